import { hashTree, listTree } from '../stages/tree.js';
import { ContentMatcher, contentFindings, scanFileList } from '../secret-scan.js';
import type { FileEntry } from '../../manifest/schema.js';
import { need, type Step } from '../context.js';
import { KilnError } from '../../util/errors.js';

/**
 * Fails the build if the image would carry keys, tokens or per-node files. The root tree's content
 * was matched while root-fs hashed it; the boot files are listed, hashed and matched here in one
 * read (the manifest step reuses that list).
 */
export const secretScanStep: Step = {
  name: 'secret-scan',
  async run(ctx) {
    const spec = need(ctx, 'inputs').loaded.spec;
    const { tree, bootDir } = need(ctx, 'workspace');
    const { entries, matches } = need(ctx, 'rootFs');
    const publicShas = new Set(need(ctx, 'fetch').artifacts.map((a) => a.sha256));
    const bootEntries = await listTree(bootDir, spec.sourceDateEpoch);
    const bootMatches = new Map<string, string[]>();
    await hashTree(bootDir, bootEntries, (path) => {
      const m = new ContentMatcher();
      return { push: (chunk) => m.push(chunk), end: () => void (m.found.size && bootMatches.set(path, [...m.found])) };
    });
    ctx.results.bootEntries = bootEntries;
    const found = [
      ...scanFileList(entries),
      ...scanFileList(bootEntries),
      ...(await contentFindings(tree, entries, matches, publicShas)),
      ...(await contentFindings(bootDir, bootEntries, bootMatches, publicShas)),
    ];
    if (found.length) throw new KilnError(`the image would hold secrets or per-node data:\n${found.map((f) => `  ${f.where}: ${f.what}`).join('\n')}`);
    return { detail: `no keys, tokens or per-node files in ${scannable(entries, publicShas) + scannable(bootEntries, publicShas)} files` };
  },
};

function scannable(entries: readonly FileEntry[], publicShas: ReadonlySet<string>): number {
  return entries.filter((e) => e.type === 'file' && !(e.sha256 && publicShas.has(e.sha256))).length;
}
