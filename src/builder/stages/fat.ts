import { utimes } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import type { ImageTools } from '../native/image-tools.js';

/**
 * Makes the FAT32 boot partition image. mkfs.fat --invariant with a fixed volume id; files are copied
 * one directory at a time in sorted order (mcopy -s would follow the host's readdir order), with
 * their mtimes set to SOURCE_DATE_EPOCH first so mcopy -m records that time.
 */
export async function makeFat(opts: {
  image: string;
  sizeMiB: number;
  label: string;
  volumeId: string;
  srcDir: string;
  files: string[];
  sourceDateEpoch: number;
  /** dosfstools and mtools from the lock's image tools (never the host's). */
  tools: ImageTools;
}): Promise<void> {
  const run = opts.tools.run;
  const env = { SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch), MTOOLS_SKIP_CHECK: '1' };
  // --invariant also sets the volume id (to 1234ABCD): it must come before -i, which then wins
  await run('mkfs.fat', ['--invariant', '-F', '32', '-n', opts.label, '-i', opts.volumeId, '-C', opts.image, String(opts.sizeMiB * 1024)], { env });
  const t = opts.sourceDateEpoch;
  for (const f of opts.files) await utimes(join(opts.srcDir, f), t, t);
  const byDir = new Map<string, string[]>();
  for (const f of [...opts.files].sort()) {
    const d = dirname(f);
    byDir.set(d, [...(byDir.get(d) ?? []), f]);
  }
  for (const [d, files] of [...byDir].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (d !== '.') {
      // parents first: sorted order guarantees a/ precedes a/b/
      const parts = d.split('/');
      for (let i = 1; i <= parts.length; i++) {
        const sub = parts.slice(0, i).join('/');
        await run('mmd', ['-D', 's', '-i', opts.image, `::/${sub}`], { env }).catch((err: Error) => {
          if (!/already exists/i.test(err.message)) throw err;
        });
      }
    }
    await run('mcopy', ['-m', '-o', '-i', opts.image, ...files.map((f) => join(opts.srcDir, f)), d === '.' ? '::/' : `::/${d}/`], { env });
  }
  await run('fsck.fat', ['-n', opts.image], { env });
}
