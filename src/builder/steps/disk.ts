import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assembleDisk, BLOCK } from '../stages/disk.js';
import { zstdTo } from '../stages/compress.js';
import { need, type Step } from '../context.js';

/** The MBR image from the two partitions, compressed with zstd (and the .zst hashed) as it is written. */
export const diskStep: Step = {
  name: 'disk',
  async run(ctx) {
    const { loaded, ids } = need(ctx, 'inputs');
    const { work, out, tree } = need(ctx, 'workspace');
    const spec = loaded.spec;
    const imgName = `${spec.name}.img`;
    // nothing reads the tree any more; deleting 15,000 files overlaps with the image pass
    const cleared = rm(tree, { recursive: true, force: true });
    const zstd = zstdTo(join(out, `${imgName}.zst`), need(ctx, 'imageTools'));
    const r = await assembleDisk(
      join(out, imgName),
      ids.diskId,
      [
        { path: join(work, 'boot.img'), type: 0x0c, bootable: true, sizeBytes: spec.disk.bootSizeMiB * 1048576 },
        { path: join(work, 'root.img'), type: 0x83, bootable: false, sizeBytes: spec.disk.rootSizeMiB * 1048576 },
      ],
      zstd,
    );
    const zst = await zstd.end();
    await cleared;
    ctx.results.disk = { ...r, zst: { file: `${imgName}.zst`, ...zst } };
    return {
      detail: `${(r.size / 1048576).toFixed(0)} MiB, ${((r.mappedBlocks * BLOCK) / 1048576).toFixed(0)} MiB mapped, sha256 ${r.sha256.slice(0, 16)}…; zstd alongside`,
    };
  },
};
