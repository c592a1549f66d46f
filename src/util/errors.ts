import type { z } from 'zod';

// One base for every error kiln means to show a person: what went wrong (the message), what to do
// about it (the hint) and how the process ends (the exit code). bin/kiln.js maps it once
// (src/cli/failure.ts); anything that is not a KilnError is a bug and says so.

/** Process exit codes. 1 is not an error: diff, verify and --verify-reproducible found a difference. */
export const EXIT = {
  ok: 0,
  different: 1,
  /** Bad input: arguments, a spec, a lock, a manifest, a config file, an image that is not one. */
  invalid: 2,
  /** An external tool failed (mmdebstrap, mke2fs, zstd, ...). */
  tool: 3,
  /** The host cannot do it: missing privileges, a missing device, a busy port. */
  host: 4,
  /** EX_SOFTWARE: an error kiln did not expect, a bug. */
  internal: 70,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface KilnErrorOptions {
  exitCode?: ExitCode;
  /** One line on what to do next, shown under the message. */
  hint?: string;
  cause?: unknown;
}

export class KilnError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(message: string, opts: KilnErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.exitCode = opts.exitCode ?? EXIT.invalid;
    this.hint = opts.hint;
  }
}

/**
 * A value the code around it guarantees (an index checked just before, a key taken from the same
 * data): returns it, or throws an internal error naming what was missing, which is a bug in kiln.
 */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal: ${what} is missing`);
  return value;
}

/** Schema problems as `field.path: message` lines, the one way kiln names what is wrong in a document. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => formatIssue(i));
}

export function formatIssue(issue: z.core.$ZodIssue, top = '(top level)'): string {
  return `${issue.path.length ? issue.path.join('.') : top}: ${issue.message}`;
}

/** The first problem only, for one-line answers (HTTP 400 bodies, CLI flags). */
export function firstIssue(error: z.ZodError, top = '(top level)'): string {
  const i = error.issues[0];
  return i ? formatIssue(i, top) : `${top}: invalid`;
}

/**
 * What to log of something caught: its message, or the thrown value itself. A rejection can carry
 * anything, and reading `.message` of `undefined` inside a catch handler would throw again there.
 */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
