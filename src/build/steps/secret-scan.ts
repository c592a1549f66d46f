import { scanTree } from '../stages/tree.js';
import { scanFileList, scanTreeContent } from '../secret-scan.js';
import { need, type Step } from '../context.js';

/** Fails the build if the image would carry keys, tokens or per-node files. */
export const secretScanStep: Step = {
  name: 'secret-scan',
  async run(ctx) {
    const spec = need(ctx, 'inputs').loaded.spec;
    const { tree, bootDir } = need(ctx, 'workspace');
    const { entries } = need(ctx, 'rootFs');
    const publicShas = new Set(need(ctx, 'fetch').artifacts.map((a) => a.sha256));
    const bootEntries = await scanTree(bootDir, spec.sourceDateEpoch);
    const content = await scanTreeContent(tree, entries, publicShas);
    const bootContent = await scanTreeContent(bootDir, bootEntries, publicShas);
    const found = [...scanFileList(entries), ...scanFileList(bootEntries), ...content.findings, ...bootContent.findings];
    if (found.length) throw new Error(`the image would hold secrets or per-node data:\n${found.map((f) => `  ${f.where}: ${f.what}`).join('\n')}`);
    return { detail: `no keys, tokens or per-node files in ${content.scanned + bootContent.scanned} files` };
  },
};
