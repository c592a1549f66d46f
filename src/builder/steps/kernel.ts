import { checkKernel, describeShortfall } from '../../boards/kernel-check.js';
import { kernelFacts } from '../kernel-facts.js';
import { need, type Step } from '../context.js';
import { KilnError } from '../../util/errors.js';

/**
 * The locked kernel against the spec's boards, from the kernel packages' own config, modules and
 * device trees: a board it cannot boot stops the build before the slow rootfs.
 */
export const kernelStep: Step = {
  name: 'kernel',
  async run(ctx) {
    const { loaded, lock } = need(ctx, 'inputs');
    const facts = await kernelFacts(lock.packages, ctx.store, ctx.stages);
    const short = checkKernel(facts, loaded.spec.boards);
    if (short.length > 0) {
      throw new KilnError(describeShortfall(facts, short), {
        hint: `lock a kernel that has them (images/pi-k3s.yaml pins one from trixie-backports), or drop those boards from boards: in ${ctx.opts.specFile}`,
      });
    }
    ctx.results.kernel = facts;
    if (facts.cached) ctx.cachedStages.push('kernel');
    return { cached: facts.cached, detail: `${facts.version} serves ${loaded.spec.boards.join(', ')}` };
  },
};
