import { ensureToolRoot } from '../native/tool-root.js';
import { need, rootfsModeOf, type Step } from '../context.js';

/** The lock's amd64 twins of the build tools, unpacked once into the stage cache (native mode). */
export const nativeToolsStep: Step = {
  name: 'native-tools',
  when: (ctx) => rootfsModeOf(ctx) === 'native',
  async run(ctx) {
    const { lock } = need(ctx, 'inputs');
    const r = await ensureToolRoot(lock, ctx.store, ctx.stages, {
      bypass: ctx.opts.noStageCache,
      onMessage: (message) => ctx.report({ event: 'progress', stage: 'native-tools', message }),
    });
    ctx.cleanups.push(() => r.dispose());
    ctx.results.nativeTools = r;
    if (r.cached) ctx.cachedStages.push('native-tools');
    return { cached: r.cached, detail: `${lock.nativeTools?.packages.length ?? 0} ${lock.nativeTools?.architecture ?? ''} packages, ${r.programs} programs` };
  },
};
