import { CommanderError } from 'commander';
import { EXIT, KilnError } from '../util/errors.js';

// The one place an error becomes what a person reads and the exit code a script sees. bin/kiln.js
// calls it for every command; the in-process CLI test runner calls it too, so tests see the same.

export interface Failure {
  /** What to print on stderr (empty when commander already printed it). */
  text: string;
  code: number;
}

/** The command an argument list names (`kiln diff a b` → diff), for the `kiln <command>:` prefix; none when it starts with an option. */
export function commandOf(args: readonly string[]): string | undefined {
  const first = args[0];
  return first === undefined || first.startsWith('-') ? undefined : first;
}

export function describeFailure(err: unknown, command?: string): Failure {
  // commander printed its own usage message already; --help and --version end here too
  if (err instanceof CommanderError) return { text: '', code: err.exitCode === 0 ? EXIT.ok : EXIT.invalid };
  const who = command ? `kiln ${command}` : 'kiln';
  if (err instanceof KilnError) {
    return { text: `${who}: error: ${err.message}\n${err.hint ? `  hint: ${err.hint}\n` : ''}`, code: err.exitCode };
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return {
    text: `${who}: internal error (a bug in kiln; please report it with this text):\n${detail}\n`,
    code: EXIT.internal,
  };
}
