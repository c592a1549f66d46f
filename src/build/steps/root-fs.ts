import { join } from 'node:path';
import { scanTree, clampTimes } from '../stages/tree.js';
import { makeExt4 } from '../stages/ext4.js';
import { need, type Step } from '../context.js';

/** The tree's file list for the manifest, then the ext4 root partition made from the tree. */
export const rootFsStep: Step = {
  name: 'root-fs',
  async run(ctx) {
    const { loaded, ids } = need(ctx, 'inputs');
    const { work, tree } = need(ctx, 'workspace');
    const spec = loaded.spec;
    const entries = await scanTree(tree, spec.sourceDateEpoch);
    await clampTimes(tree, entries);
    await makeExt4({
      image: join(work, 'root.img'),
      sizeMiB: spec.disk.rootSizeMiB,
      label: spec.disk.rootLabel,
      uuid: ids.rootUuid,
      hashSeed: ids.rootHashSeed,
      srcDir: tree,
      sourceDateEpoch: spec.sourceDateEpoch,
      workDir: work,
      entries,
    });
    ctx.results.rootFs = { entries };
    const bytes = entries.reduce((n, e) => n + e.size, 0);
    return { detail: `${entries.length} entries, ${(bytes / 1048576).toFixed(0)} MiB of files` };
  },
};
