/** The lock does not match the spec (package set, mirror, installer packages): re-lock. */
export class LockMismatchError extends Error {
  override name = 'LockMismatchError';
}
