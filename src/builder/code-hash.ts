import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { KilnError } from '../util/errors.js';

/**
 * The compiled folders whose code decides an image's bytes. A folder rename must update this list:
 * a missing folder is an error rather than a silent skip, because skipping it would let a no-op
 * rebuild be taken for code that changed.
 */
export const IMAGE_CODE_DIRS = ['builder', 'boards', 'disk', 'manifest', 'util', 'lock', 'spec', 'installer'] as const;

/**
 * Hash of kiln's own compiled code that writes image bytes. It is part of the final stage key, so a
 * no-op rebuild is only skipped when the code that would redo it is unchanged too, not just the
 * inputs.
 */
export async function buildCodeHash(root = fileURLToPath(new URL('..', import.meta.url))): Promise<string> {
  const h = createHash('sha256');
  for (const dir of IMAGE_CODE_DIRS) {
    const st = await stat(join(root, dir)).catch(() => undefined);
    if (!st?.isDirectory()) throw new KilnError(`code hash: ${join(root, dir)} is missing (a renamed source folder? update IMAGE_CODE_DIRS)`);
    const files = (await readdir(join(root, dir), { recursive: true })).filter((f) => f.endsWith('.js')).sort();
    if (files.length === 0) throw new KilnError(`code hash: ${join(root, dir)} holds no compiled code`);
    for (const f of files)
      h.update(`${dir}/${f}\0`)
        .update(await readFile(join(root, dir, f)))
        .update('\0');
  }
  return h.digest('hex');
}
