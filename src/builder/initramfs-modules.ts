// The kernel modules the image's own boot initramfs carries (MODULES=list), from the boards the spec
// targets. Pure: the rootfs hook writes them for initramfs-tools and a test reads them back from the initrd.

import { modulesToLoad, type BoardName } from '../boards/catalog.js';

/**
 * Enough to find and mount the root filesystem on every board the image targets, and nothing else:
 * MODULES=most carried every storage, network and framebuffer driver of the arm64 kernel (a 4×
 * larger initrd that takes minutes to build). The build has checked that the kernel has them all.
 */
export function bootInitramfsModuleNames(boards: readonly BoardName[]): string[] {
  return modulesToLoad(boards).map((m) => m.name);
}

/** The list file initramfs-tools reads from /usr/share/initramfs-tools/modules.d/: one module per line, each purpose a comment. */
export function modulesListFile(boards: readonly BoardName[]): string {
  const lines = ['# kiln: the boot initramfs carries these modules (MODULES=list); see kiln docs/architecture.md'];
  let why: string | undefined;
  for (const m of modulesToLoad(boards)) {
    if (m.why !== why) lines.push(`# ${m.why}`);
    why = m.why;
    lines.push(m.name);
  }
  return `${lines.join('\n')}\n`;
}
