// The kernel modules the image's own boot initramfs carries (MODULES=list), from the boards the spec
// targets. Pure: the rootfs hook writes them for initramfs-tools and a test reads them back from the initrd.

import { moduleAlternatives, moduleNeeds, type BoardName } from '../boards/catalog.js';

/**
 * Enough to find and mount the root filesystem on every board the image targets, and nothing else:
 * MODULES=most carried every storage, network and framebuffer driver of the arm64 kernel (a 4×
 * larger initrd that takes minutes to build). The build has checked that the kernel has them all.
 */
export function bootInitramfsModuleNames(boards: readonly BoardName[]): string[] {
  return [...new Set(moduleNeeds(boards).flatMap((g) => g.modules.flatMap(moduleAlternatives)))];
}

/** The list file initramfs-tools reads from /usr/share/initramfs-tools/modules.d/. */
export function modulesListFile(boards: readonly BoardName[]): string {
  const seen = new Set<string>();
  const lines = ['# kiln: the boot initramfs carries these modules (MODULES=list); see kiln docs/architecture.md'];
  for (const g of moduleNeeds(boards)) {
    const fresh = g.modules.flatMap(moduleAlternatives).filter((m) => !seen.has(m));
    if (fresh.length === 0) continue;
    for (const m of fresh) seen.add(m);
    lines.push(`# ${g.why}`, ...fresh);
  }
  return `${lines.join('\n')}\n`;
}
