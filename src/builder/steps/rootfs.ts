import { buildRootfs } from '../stages/rootfs.js';
import { hostToolVersions } from '../host-tools.js';
import { need, rootfsModeOf, type Step } from '../context.js';

/** The cached (or, on a miss, minutes-long) rootfs tar; a miss says which input changed. */
export const rootfsStep: Step = {
  name: 'rootfs',
  async run(ctx) {
    const { loaded, lock } = need(ctx, 'inputs');
    const message = (m: string): void => ctx.report({ event: 'progress', stage: 'rootfs', message: m });
    // the host tool query is independent of the rootfs lookup; both start processes
    const [tools, rootfs] = await Promise.all([
      hostToolVersions(),
      buildRootfs({
        spec: loaded.spec,
        lock,
        store: ctx.store,
        cache: ctx.stages,
        noCache: ctx.opts.noStageCache,
        mode: rootfsModeOf(ctx),
        ...(ctx.results.nativeTools ? { tools: ctx.results.nativeTools } : {}),
        onMessage: message,
        onLine: (line) => {
          if (/^(Setting up|Processing triggers for|I: )/.test(line)) message(line);
        },
      }),
    ]);
    ctx.cleanups.push(() => rootfs.dispose());
    ctx.results.rootfs = { ...rootfs, tools };
    if (rootfs.cached) ctx.cachedStages.push('rootfs');
    return rootfs;
  },
};
