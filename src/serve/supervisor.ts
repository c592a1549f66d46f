import { log } from '../util/log.js';

// The signal side of `kiln serve`. The handlers are installed before start-up begins: a SIGHUP
// sent while kiln was still reading nodes.yaml or binding its ports used to hit Node's default
// action and kill the process. During start-up a SIGHUP is remembered and the reload runs once
// start-up is done (a nodes.yaml edited meanwhile is then applied, not lost); SIGTERM/SIGINT abort
// start-up, close what was opened and end the process normally.

type StopSignal = 'SIGTERM' | 'SIGINT';
type Handled = StopSignal | 'SIGHUP';
const HANDLED: readonly Handled[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** `process`, or a stand-in in tests. */
export interface SignalSource {
  on(event: Handled, fn: () => void): unknown;
  off(event: Handled, fn: () => void): unknown;
}

export interface Supervised {
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface SuperviseOptions {
  proc: SignalSource;
  /** Starts the service; should stop early and close what it opened once `signal` is aborted. */
  start: (signal: AbortSignal) => Promise<Supervised>;
  /** A start-up that ignores the abort this long after SIGTERM is given up on (`exit(1)`). */
  stopGraceMs?: number;
  exit?: (code: number) => void;
}

/** Runs the service until SIGTERM/SIGINT; resolves once it is closed. Rejects only if start-up fails by itself. */
export function supervise(o: SuperviseOptions): Promise<void> {
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let svc: Supervised | undefined;
  let reloadWanted = false;
  let reloading = false;
  const abort = new AbortController();
  let graceTimer: NodeJS.Timeout | undefined;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const reload = async (): Promise<void> => {
    if (reloading) {
      // Coalesced: one more reload after the running one, however many signals came meanwhile.
      reloadWanted = true;
      return;
    }
    reloading = true;
    try {
      do {
        reloadWanted = false;
        await svc?.reload().then(
          () => log.info('reloaded images and nodes file'),
          (err: Error) => log.error({ err: err.message }, 'reload failed; keeping the previous state'),
        );
      } while (reloadWanted && phase === 'running');
    } finally {
      reloading = false;
    }
  };

  const stop = async (): Promise<void> => {
    const s = svc;
    svc = undefined;
    await s?.close().catch((err: Error) => log.error({ err: err.message }, 'close failed'));
    finish();
  };

  const handlers = new Map<Handled, () => void>(
    HANDLED.map((sig) => [
      sig,
      () => {
        if (sig === 'SIGHUP') {
          if (phase === 'starting') {
            reloadWanted = true;
            log.info({ signal: sig }, 'SIGHUP during start-up: reloading once start-up is done');
          } else if (phase === 'running') void reload();
          else log.info({ signal: sig }, 'SIGHUP while stopping: ignored');
          return;
        }
        if (phase === 'stopping') {
          log.info({ signal: sig }, 'already stopping');
          return;
        }
        const was = phase;
        phase = 'stopping';
        log.info({ signal: sig }, was === 'starting' ? 'stopping during start-up' : 'stopping');
        if (was === 'running') void stop();
        else {
          abort.abort(new Error(`${sig} during start-up`));
          graceTimer = setTimeout(() => {
            log.error({ signal: sig, graceMs: o.stopGraceMs ?? 10_000 }, 'start-up did not stop in time; exiting');
            (o.exit ?? process.exit)(1);
          }, o.stopGraceMs ?? 10_000).unref();
        }
      },
    ]),
  );
  for (const [sig, fn] of handlers) o.proc.on(sig, fn);
  const uninstall = (): void => {
    for (const [sig, fn] of handlers) o.proc.off(sig, fn);
  };

  return (async () => {
    try {
      try {
        svc = await o.start(abort.signal);
        clearTimeout(graceTimer);
      } catch (err) {
        clearTimeout(graceTimer);
        if (abort.signal.aborted) {
          log.info('stopped during start-up');
          return;
        }
        throw err;
      }
      if (abort.signal.aborted) {
        // The stop came after the last point start-up looked at the signal.
        await stop();
        log.info('stopped during start-up');
        return;
      }
      phase = 'running';
      if (reloadWanted) void reload();
      await finished;
    } finally {
      uninstall();
    }
  })();
}
