import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

/**
 * Hash of kiln's own compiled code that writes image bytes (build, disk, util). It is part of the
 * final stage key, so a no-op rebuild is only skipped when the code that would redo it is unchanged
 * too, not just the inputs.
 */
export async function buildCodeHash(): Promise<string> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const h = createHash('sha256');
  for (const dir of ['build', 'disk', 'util', 'lock', 'spec', 'installer']) {
    const files = (await readdir(join(root, dir), { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith('.js')).sort();
    for (const f of files) h.update(`${dir}/${f}\0`).update(await readFile(join(root, dir, f))).update('\0');
  }
  return h.digest('hex');
}
