import { join } from 'node:path';
import { listTree, hashTree, clampTimes } from '../stages/tree.js';
import { makeExt4 } from '../stages/ext4.js';
import { ContentMatcher } from '../secret-scan.js';
import { ElfHead, type HostArtifact } from '../guards/host-arch.js';
import { need, type Step } from '../context.js';

/**
 * The tree's file list for the manifest, then the ext4 root partition made from the tree. The
 * content pass (sha256 of every file, the secret patterns and the host-arch guard's look at ELF
 * headers, all in the same read) runs while mke2fs
 * and debugfs work: it only moves atimes, which mke2fs copies but debugfs then rewrites for every
 * inode from the list, so the image bytes do not depend on it.
 */
export const rootFsStep: Step = {
  name: 'root-fs',
  async run(ctx) {
    const { loaded, ids } = need(ctx, 'inputs');
    const { work, tree } = need(ctx, 'workspace');
    const spec = loaded.spec;
    const entries = await listTree(tree, spec.sourceDateEpoch);
    await clampTimes(tree, entries);
    const ext4 = makeExt4({
      image: join(work, 'root.img'),
      sizeMiB: spec.disk.rootSizeMiB,
      label: spec.disk.rootLabel,
      uuid: ids.rootUuid,
      hashSeed: ids.rootHashSeed,
      srcDir: tree,
      sourceDateEpoch: spec.sourceDateEpoch,
      workDir: work,
      entries,
      tools: need(ctx, 'imageTools'),
    });
    const matches = new Map<string, string[]>();
    const hostElf: HostArtifact[] = [];
    const content = hashTree(tree, entries, (path) => {
      const m = new ContentMatcher();
      const head = new ElfHead();
      return {
        push: (chunk) => {
          m.push(chunk);
          head.push(chunk);
        },
        end: () => {
          if (m.found.size) matches.set(path, [...m.found]);
          const arch = head.hostArch();
          if (arch) hostElf.push({ where: path, what: `${arch} ELF` });
        },
      };
    });
    const settled = await Promise.allSettled([ext4, content]);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    ctx.results.rootFs = { entries, matches, hostElf };
    const bytes = entries.reduce((n, e) => n + e.size, 0);
    return { detail: `${entries.length} entries, ${(bytes / 1048576).toFixed(0)} MiB of files` };
  },
};
