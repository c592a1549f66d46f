import { resolve } from 'node:path';
import { loadSpec } from '../../spec/load.js';
import { lockPathFor, readLock } from '../../lock/lockfile.js';
import { sha256File } from '../../util/hash.js';
import { imageIds } from '../ids.js';
import { LockMismatchError } from '../lock-mismatch.js';
import type { Step } from '../context.js';

/** The spec and its lock; a lock made for another package set is refused before any work. */
export const inputsStep: Step = {
  name: 'inputs',
  async run(ctx) {
    const { opts } = ctx;
    const loaded = await loadSpec(opts.specFile);
    const lockPath = resolve(opts.lockFile ?? lockPathFor(loaded.path));
    const lock = await readLock(lockPath);
    if (lock.packagesHash !== loaded.packagesHash) {
      throw new LockMismatchError(
        `${lockPath} was made from a different package set or mirror than ${loaded.path} now declares; run: kiln lock ${opts.specFile}`,
      );
    }
    const finalDir = resolve(opts.outDir, loaded.spec.name);
    ctx.results.inputs = { loaded, lock, lockPath, lockSha: await sha256File(lockPath), finalDir, ids: imageIds(loaded.sha256) };
    return { detail: `${loaded.spec.name}: ${lock.packages.length} locked packages, ${Object.keys(loaded.spec.artifacts).length} artifacts` };
  },
};
