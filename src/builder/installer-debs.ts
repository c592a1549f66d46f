import type { LoadedSpec } from '../spec/load.js';
import type { Lock } from '../lock/lockfile.js';
import { LockMismatchError } from './lock-mismatch.js';

/** The lock's installer .debs; a spec that wants ones the lock lacks must be re-locked. */
export function installerDebs(loaded: LoadedSpec, lock: Lock, specFile: string): NonNullable<Lock['installerPackages']> {
  const wanted = loaded.spec.installer?.packages ?? [];
  if (wanted.length === 0) return [];
  const have = lock.installerPackages ?? [];
  const missing = wanted.filter((n) => !have.some((p) => p.name === n));
  if (missing.length) throw new LockMismatchError(`the lock has no installer package ${missing.join(', ')}; run: kiln lock ${specFile}`);
  return have.filter((p) => wanted.includes(p.name));
}
