// Runs the kiln CLI in-process and captures what it prints and the exit code it sets.
import { buildProgram } from '../../../src/cli/index.js';
import { describeFailure } from '../../../src/cli/failure.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

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
  let failed: number | undefined;
  try {
    await (await buildProgram()).parseAsync(['node', 'kiln', ...args]);
  } catch (e) {
    // what bin/kiln.js does with an error, in-process
    const f = describeFailure(e, args[0]);
    err.push(f.text);
    failed = f.code;
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
  const code = failed ?? (typeof process.exitCode === 'number' ? process.exitCode : 0);
  process.exitCode = undefined;
  return { code, stdout: out.join(''), stderr: err.join('') };
}
