import { pino, type Logger } from 'pino';

// One logger for the whole process; fastify is handed this same instance by `kiln serve`.
// Logs go to stderr so stdout stays free for command output (--json events, reports).
export const log: Logger = pino({ level: process.env.KILN_LOG_LEVEL ?? 'info', base: undefined }, pino.destination(2));

export type { Logger };
