// Progress for long builds: a human line per stage event on stderr, or one JSON object per line on
// stdout with --json (for CI). Elapsed times are wall-clock; they never reach the image.

import { EXIT, KilnError } from '../util/errors.js';

export type BuildEvent =
  | { event: 'stage-start'; stage: string; detail?: string }
  | { event: 'stage-done'; stage: string; cached: boolean; seconds: number; detail?: string }
  | { event: 'progress'; stage: string; message: string }
  | { event: 'done'; outDir: string; sha256: string; seconds: number; cachedStages: string[] }
  | { event: 'error'; stage: string; message: string };

export type Reporter = (e: BuildEvent) => void;

export function textReporter(write: (s: string) => void = (s) => process.stderr.write(s)): Reporter {
  const t0 = Date.now();
  const clock = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
  return (e) => {
    switch (e.event) {
      case 'stage-start':
        write(`${clock()} ${e.stage}: started${e.detail ? ` (${e.detail})` : ''}\n`);
        break;
      case 'stage-done':
        write(`${clock()} ${e.stage}: ${e.cached ? 'cache hit' : 'done'} in ${e.seconds.toFixed(1)}s${e.detail ? ` — ${e.detail}` : ''}\n`);
        break;
      case 'progress':
        write(`${clock()} ${e.stage}: ${e.message}\n`);
        break;
      case 'done':
        write(`${clock()} build complete: ${e.outDir} (sha256 ${e.sha256}) in ${e.seconds.toFixed(1)}s; cached: ${e.cachedStages.join(', ') || 'none'}\n`);
        break;
      case 'error':
        write(`${clock()} ${e.stage}: FAILED\n`);
        break;
    }
  };
}

export function jsonReporter(write: (s: string) => void = (s) => process.stdout.write(s)): Reporter {
  return (e) => write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
}

export class StageError extends KilnError {
  constructor(
    readonly stage: string,
    cause: unknown,
  ) {
    // the stage's own error decides the exit code and the hint; this adds where it happened
    super(`build stage "${stage}" failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
      exitCode: cause instanceof KilnError ? cause.exitCode : EXIT.internal,
      ...(cause instanceof KilnError && cause.hint ? { hint: cause.hint } : {}),
    });
  }
}

/** Runs one stage with start/done events; failures are wrapped so the message names the stage. */
export async function stage<T extends { cached?: boolean; detail?: string }>(report: Reporter, name: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  report({ event: 'stage-start', stage: name });
  try {
    const r = await fn();
    report({ event: 'stage-done', stage: name, cached: r.cached ?? false, seconds: (Date.now() - t) / 1000, detail: r.detail });
    return r;
  } catch (err) {
    report({ event: 'error', stage: name, message: err instanceof Error ? err.message : String(err) });
    throw err instanceof StageError ? err : new StageError(name, err);
  }
}
