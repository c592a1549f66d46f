import { commandOf, describeFailure } from '../../src/cli/failure.js';
import { main } from '../../src/cli/index.js';

// The kiln CLI in-process, run the way bin/kiln.js runs it: `main` loads the named command (the
// whole CLI for anything else), and an error becomes its message and exit code through
// describeFailure. What the command prints is captured rather than shown.

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** What the command threw, when it failed that way (describeFailure made `code` and `stderr` of it). */
  error?: unknown;
}

/** `kiln <args>`: exit code, stdout and stderr as a person running it would see them. */
export async function kiln(...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.exitCode = undefined;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  let failure: { code: number; error: unknown } | undefined;
  try {
    await main(['node', 'kiln', ...args]);
  } catch (e) {
    // what bin/kiln.js does with an error, in-process
    const f = describeFailure(e, commandOf(args));
    err.push(f.text);
    failure = { code: f.code, error: e };
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
  const code = failure?.code ?? (typeof process.exitCode === 'number' ? process.exitCode : 0);
  process.exitCode = undefined;
  return { code, stdout: out.join(''), stderr: err.join(''), ...(failure ? { error: failure.error } : {}) };
}

/** A run that did not exit 0: the message is what the command threw (or its stderr), the rest is on `result`. */
export class CliFailure extends Error {
  constructor(readonly result: CliResult) {
    const e = result.error;
    super(e instanceof Error ? e.message : e === undefined ? result.stderr || `exit ${result.code}` : String(e), { cause: e });
  }
}

/** `kiln <args> --state-dir <state>` (node, inventory): its stdout when it exits 0, else rejects with a CliFailure. */
export async function kilnWithState(state: string, ...args: string[]): Promise<string> {
  const r = await kiln(...args, '--state-dir', state);
  if (r.code !== 0) throw new CliFailure(r);
  return r.stdout;
}
