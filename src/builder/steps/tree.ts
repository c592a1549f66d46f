import { mkdir } from 'node:fs/promises';
import { extractTar } from '../stages/tree.js';
import { need, type Step } from '../context.js';

/** The rootfs tar unpacked into the work dir: the tree the later steps add to and read. */
export const treeStep: Step = {
  name: 'tree',
  async run(ctx) {
    const { tree } = need(ctx, 'workspace');
    await mkdir(tree);
    await extractTar(need(ctx, 'imageTools'), need(ctx, 'rootfs').tar, tree);
    return {};
  },
};
