import { buildInstaller } from '../../installer/initramfs.js';
import { installerDebs } from '../installer-debs.js';
import { need, type Step } from '../context.js';

/** The netboot installer's kernel and initramfs beside the image (cached by the stage cache). */
export const installerStep: Step = {
  name: 'installer',
  when: (ctx) => !!need(ctx, 'inputs').loaded.spec.installer,
  async run(ctx) {
    const { loaded, lock } = need(ctx, 'inputs');
    const r = await buildInstaller({
      tree: need(ctx, 'workspace').tree,
      kernelVersion: need(ctx, 'boot').kernelVersion,
      boards: loaded.spec.boards,
      sourceDateEpoch: loaded.spec.sourceDateEpoch,
      debs: installerDebs(loaded, lock, ctx.opts.specFile).map((p) => ctx.store.blobPath(p.sha256)),
      treeKey: need(ctx, 'rootfs').key,
      cache: ctx.stages,
      noCache: ctx.opts.noStageCache,
      onMessage: (message) => ctx.report({ event: 'progress', stage: 'installer', message }),
      outDir: need(ctx, 'workspace').out,
    });
    ctx.results.installer = r;
    if (r.cached) ctx.cachedStages.push('installer');
    const skipped = r.skipped.length ? `; not in this kernel: ${r.skipped.join(', ')}` : '';
    return { cached: r.cached, detail: `initramfs ${(r.initrd.size / 1048576).toFixed(1)} MiB, ${r.modules} modules${skipped}` };
  },
};
