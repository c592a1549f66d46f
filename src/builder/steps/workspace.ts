import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { need, type Step } from '../context.js';

/**
 * Scratch space under the cache and a temp output dir beside the final one; `commit` renames the
 * latter into place, so a failed build never leaves a partial output behind.
 */
export const workspaceStep: Step = {
  name: 'workspace',
  quiet: true,
  async run(ctx) {
    const { loaded, finalDir } = need(ctx, 'inputs');
    await mkdir(join(ctx.opts.cacheRoot, 'work'), { recursive: true });
    const work = await mkdtemp(join(ctx.opts.cacheRoot, 'work', `${loaded.spec.name}-`));
    ctx.cleanups.push(() => rm(work, { recursive: true, force: true }));
    await mkdir(dirname(finalDir), { recursive: true });
    const out = await mkdtemp(join(dirname(finalDir), `.${basename(finalDir)}.tmp-`));
    // after a successful commit the temp dir no longer exists and this is a no-op
    ctx.cleanups.push(() => rm(out, { recursive: true, force: true }));
    ctx.results.workspace = { work, out, tree: join(work, 'tree'), bootDir: join(work, 'boot') };
    return {};
  },
};
