import { log } from '../util/log.js';

// The last net of `kiln serve`. Every protocol handler catches its own errors (a bad packet or
// request costs that one exchange); an error that still escapes to the process would otherwise
// stop DHCP, TFTP and HTTP for every node. It is logged with what Node knows about it, counted in
// kiln_internal_errors_total, and the service keeps serving, unless the operator asked for
// `--exit-on-internal-error` (a supervisor such as systemd then restarts a clean process).

export type InternalErrorKind = 'uncaughtException' | 'unhandledRejection';

/** `process`, or a stand-in in tests. */
export interface ErrorSource {
  on(event: 'uncaughtException', fn: (err: Error, origin: string) => void): unknown;
  on(event: 'unhandledRejection', fn: (reason: unknown) => void): unknown;
  off(event: 'uncaughtException', fn: (err: Error, origin: string) => void): unknown;
  off(event: 'unhandledRejection', fn: (reason: unknown) => void): unknown;
}

export interface GuardOptions {
  proc: ErrorSource;
  count: (kind: InternalErrorKind) => void;
  exitOnInternalError: boolean;
  exit?: (code: number) => void;
}

/** EX_SOFTWARE (sysexits.h): an internal software error. */
export const INTERNAL_ERROR_EXIT = 70;

/** Installs the handlers; returns their removal. */
export function installProcessGuards(o: GuardOptions): () => void {
  let exiting = false;
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    (o.exit ?? process.exit)(code);
  };
  const handle = (kind: InternalErrorKind, err: unknown, origin?: string): void => {
    o.count(kind);
    const fields = {
      kind,
      ...(origin ? { origin } : {}),
      err: err instanceof Error ? err : new Error(`non-Error ${kind}: ${String(err)}`),
    };
    if (!o.exitOnInternalError) {
      log.error(fields, `internal error (${kind}) reached the process; still serving`);
      return;
    }
    log.fatal({ ...fields, exitCode: INTERNAL_ERROR_EXIT }, `internal error (${kind}) reached the process; exiting (--exit-on-internal-error)`);
    // The log goes to stderr asynchronously: let it out before the process ends.
    log.flush(() => exit(INTERNAL_ERROR_EXIT));
    setTimeout(() => exit(INTERNAL_ERROR_EXIT), 1000).unref();
  };
  const onException = (err: Error, origin: string): void => handle('uncaughtException', err, origin);
  const onRejection = (reason: unknown): void => handle('unhandledRejection', reason);
  o.proc.on('uncaughtException', onException);
  o.proc.on('unhandledRejection', onRejection);
  return () => {
    o.proc.off('uncaughtException', onException);
    o.proc.off('unhandledRejection', onRejection);
  };
}
