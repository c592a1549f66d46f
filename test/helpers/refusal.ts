import { KilnError } from '../../src/util/errors.js';

// A refusal is part of what a pure function promises (the message names the field, the exit code
// says whose fault it is): `refusal(() => f(x))` gives the KilnError to check, and fails the test
// when `f` returns or throws anything else.

export function refusal(f: () => unknown): KilnError {
  try {
    f();
  } catch (e) {
    if (e instanceof KilnError) return e;
    throw e;
  }
  throw new Error('not refused');
}
