import { join } from 'node:path';
import { hostPaths, scanInitramfsForHostElf, treeInitramfsFiles } from '../guards/host-arch.js';
import { need, type Step } from '../context.js';
import { KilnError } from '../../util/errors.js';

/**
 * Fails the build if a build-host (not arm64) program, library or directory would ship: in the
 * root tree, in its initramfs or in the installer's (docs/native-rootfs.md).
 */
export const hostArchGuardStep: Step = {
  name: 'host-arch-guard',
  async run(ctx) {
    const { tree, out } = need(ctx, 'workspace');
    const { entries, hostElf } = need(ctx, 'rootFs');
    const installer = ctx.results.installer;
    const tools = need(ctx, 'imageTools');
    // the tree's files were read once already (root-fs), their ELF headers looked at then
    const found = [...hostPaths(entries), ...hostElf];
    const initrds = await treeInitramfsFiles(tree);
    for (const f of initrds) found.push(...(await scanInitramfsForHostElf(join(tree, f), f, tools)));
    if (installer) found.push(...(await scanInitramfsForHostElf(join(out, installer.initrd.file), installer.initrd.file, tools)));
    if (found.length) throw new KilnError(`the image would hold build-host (not arm64) files:\n${found.map((f) => `  ${f.where}: ${f.what}`).join('\n')}`);
    return { detail: `no build-host ELF or directories in ${entries.length} entries and ${initrds.length + (installer ? 1 : 0)} initramfs` };
  },
};
