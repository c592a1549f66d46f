import { assert } from 'vitest';

// What a test needs before it can go on (a value its beforeAll set, an element it has just counted,
// a match it has just checked): `must(x, 'what')` instead of `x!`, so that a missing value fails
// there, as an assertion naming what was missing, not as a TypeError further on.

/** `value`, or a failed assertion saying that `what` is missing (undefined or null), then `detail` (e.g. kiln's log). */
export function must<T>(value: T, what: string, detail?: string): NonNullable<T> {
  assert.exists(value, detail === undefined ? `${what} is missing` : `${what} is missing\n${detail}\n`);
  return value;
}
