import { join } from 'node:path';
import { collectBootFiles } from '../stages/bootfiles.js';
import { makeFat } from '../stages/fat.js';
import { need, type Step } from '../context.js';

/** The boot partition: firmware, kernel, initrd, device trees and config from the tree, as FAT32. */
export const bootStep: Step = {
  name: 'boot',
  async run(ctx) {
    const { loaded, ids } = need(ctx, 'inputs');
    const { work, tree, bootDir } = need(ctx, 'workspace');
    const spec = loaded.spec;
    const files = await collectBootFiles(tree, spec, ids.diskId, bootDir);
    await makeFat({
      image: join(work, 'boot.img'),
      sizeMiB: spec.disk.bootSizeMiB,
      label: spec.disk.bootLabel,
      volumeId: ids.fatVolumeId,
      srcDir: bootDir,
      files: files.files,
      sourceDateEpoch: spec.sourceDateEpoch,
      tools: need(ctx, 'imageTools'),
    });
    ctx.results.boot = files;
    return { detail: `kernel ${files.kernelVersion}, ${files.files.length} files` };
  },
};
