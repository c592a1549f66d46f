import { ensureImageTools } from '../native/image-tools.js';
import { need, type Step } from '../context.js';

/**
 * The lock's image tools (tar, e2fsprogs, dosfstools, mtools, zstd for the build host's
 * architecture) unpacked once into the stage cache: every later step runs them from there.
 */
export const imageToolsStep: Step = {
  name: 'image-tools',
  async run(ctx) {
    const { lock } = need(ctx, 'inputs');
    const t = await ensureImageTools(lock, ctx.store, ctx.stages, {
      bypass: ctx.opts.noStageCache,
      onMessage: (message) => ctx.report({ event: 'progress', stage: 'image-tools', message }),
    });
    ctx.cleanups.push(() => t.dispose());
    ctx.results.imageTools = t;
    if (t.cached) ctx.cachedStages.push('image-tools');
    return { cached: t.cached, detail: `${lock.imageTools?.packages.length ?? 0} ${t.architecture} packages` };
  },
};
