import { hostname, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_HTTP_TIMEOUTS } from './http/timeouts.js';
import { parseRetention, RETENTION_SYNTAX } from './nodes/activity.js';
import { EXIT, KilnError, firstIssue } from '../util/errors.js';
import { storeKindOf } from './nodes/store/sql.js';

// `kiln serve` settings, validated in one place so every error names the flag it came from.

const ipv4 = z.ipv4();

/** The defaults, in one place: the schema applies them and `kiln serve --help` shows them. */
export const SERVE_DEFAULTS = {
  mode: 'proxy',
  listen: '0.0.0.0',
  httpPort: 8080,
  tftpPort: 69,
  dhcpPort: 67,
  mask: '255.255.255.0',
  leaseSeconds: 3600,
  tftpMaxBlockSize: 1468,
  eventRetention: '30d',
  httpRequestTimeoutSeconds: DEFAULT_HTTP_TIMEOUTS.requestMs / 1000,
  httpHeadersTimeoutSeconds: DEFAULT_HTTP_TIMEOUTS.headersMs / 1000,
  httpKeepAliveTimeoutSeconds: DEFAULT_HTTP_TIMEOUTS.keepAliveMs / 1000,
  httpIdleTimeoutSeconds: DEFAULT_HTTP_TIMEOUTS.idleMs / 1000,
  activityWindowSeconds: 60,
  discoveryMax: 64,
  discoveryPerMinute: 10,
} as const;
const D = SERVE_DEFAULTS;

/** The host name as an agent name: what the schema would refuse becomes "-", never an error at start. */
export function defaultAgentName(host: string): string {
  const n = host
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return n === '' ? 'kiln' : n;
}

export const serveConfigSchema = z
  .strictObject({
    stateDir: z.string().min(1),
    /** The registry store: undefined or "sqlite" for the state dir's file, else a postgres:// URL. */
    store: z
      .string()
      .optional()
      .refine((s) => storeKindOf(s) !== undefined, { message: 'expected "sqlite" or a postgres:// URL' }),
    /** This agent's name on the events it writes and in the store's agent list (several agents may share a PostgreSQL store). */
    agent: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, ".", "_" and "-", at most 63')
      .default(() => defaultAgentName(hostname())),
    // @fastify/static needs an absolute root: `--images-dir dist` used to fail at start-up.
    imagesDir: z
      .string()
      .min(1)
      .transform((p) => resolve(p)),
    templatesDir: z.string().min(1),
    nodesFile: z.string().optional(),
    mode: z.enum(['proxy', 'full']).default(D.mode),
    interface: z.string().optional(),
    advertise: ipv4.optional(),
    listen: ipv4.default(D.listen),
    httpPort: z.number().int().min(1).max(65535).default(D.httpPort),
    tftpPort: z.number().int().min(1).max(65535).default(D.tftpPort),
    dhcpPort: z.number().int().min(1).max(65535).default(D.dhcpPort),
    dhcp: z.boolean().default(true),
    tftp: z.boolean().default(true),
    discovery: z.boolean().default(false),
    pool: z
      .strictObject({
        start: ipv4,
        end: ipv4,
        mask: ipv4.default(D.mask),
        router: ipv4.optional(),
        dns: z.array(ipv4).default([]),
        leaseSeconds: z.number().int().min(60).default(D.leaseSeconds),
      })
      .optional(),
    k3sToken: z.string().min(8).optional(),
    k3sServerUrl: z.url().optional(),
    defaultImage: z.string().optional(),
    tftpMaxBlockSize: z.number().int().min(512).max(65464).default(D.tftpMaxBlockSize),
    /** How long old activity events (dhcp-seen, file-fetched, ...) are kept; state changes are kept forever. */
    eventRetention: z
      .string()
      .default(D.eventRetention)
      .transform((spec, ctx) => {
        const r = parseRetention(spec);
        if (r) return r;
        ctx.issues.push({ code: 'custom', input: spec, message: `expected ${RETENTION_SYNTAX}, got ${JSON.stringify(spec)}` });
        return z.NEVER;
      }),
    /** Time to receive a whole HTTP request (not to send the answer: image downloads are long). */
    httpRequestTimeoutSeconds: z.number().positive().max(3600).default(D.httpRequestTimeoutSeconds),
    httpHeadersTimeoutSeconds: z.number().positive().max(3600).default(D.httpHeadersTimeoutSeconds),
    httpKeepAliveTimeoutSeconds: z.number().positive().max(3600).default(D.httpKeepAliveTimeoutSeconds),
    /** A connection with no traffic either way for this long is closed. */
    httpIdleTimeoutSeconds: z.number().positive().max(86_400).default(D.httpIdleTimeoutSeconds),
    /** Unauthenticated activity is written at most once per node, type (and file) per this window. */
    activityWindowSeconds: z.number().positive().max(3600).default(D.activityWindowSeconds),
    /** Discovered placeholders: at most this many at a time ... */
    discoveryMax: z.number().int().min(0).max(100_000).default(D.discoveryMax),
    /** ... created at most this many per minute (after a first burst of as many). */
    discoveryPerMinute: z.number().positive().max(6000).default(D.discoveryPerMinute),
  })
  .refine((c) => !(c.dhcp && c.mode === 'full' && !c.pool), {
    message: 'full mode needs an address pool (--pool START-END)',
    path: ['pool'],
  })
  // Node refuses a headers timeout longer than the request timeout (the headers are part of it).
  .refine((c) => c.httpHeadersTimeoutSeconds <= c.httpRequestTimeoutSeconds, {
    message: 'must not be longer than httpRequestTimeoutSeconds (the headers are part of the request)',
    path: ['httpHeadersTimeoutSeconds'],
  });
export type ServeConfig = z.infer<typeof serveConfigSchema>;

export function parseServeConfig(raw: unknown): ServeConfig {
  const r = serveConfigSchema.safeParse(raw);
  if (!r.success) throw new KilnError(`invalid serve settings: ${firstIssue(r.error)}`);
  return r.data;
}

/** The address nodes reach kiln at: --advertise, else the first IPv4 of --interface. */
export function advertisedAddress(cfg: ServeConfig): string | undefined {
  if (cfg.advertise) return cfg.advertise;
  if (!cfg.interface) return cfg.listen !== '0.0.0.0' ? cfg.listen : undefined;
  const addrs = networkInterfaces()[cfg.interface];
  if (!addrs) throw new KilnError(`--interface ${cfg.interface}: no such network interface`, { exitCode: EXIT.host });
  const v4 = addrs.find((a) => a.family === 'IPv4' && !a.internal) ?? addrs.find((a) => a.family === 'IPv4');
  if (!v4) throw new KilnError(`--interface ${cfg.interface} has no IPv4 address`, { exitCode: EXIT.host });
  return v4.address;
}
