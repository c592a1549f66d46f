import { KilnError } from '../util/errors.js';

/** The lock does not match the spec (package set, mirror, installer packages): re-lock. */
export class LockMismatchError extends KilnError {}
