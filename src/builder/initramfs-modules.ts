// The kernel modules the image's own boot initramfs carries (MODULES=list), by what they are for.
// Pure: the rootfs hook writes them for initramfs-tools and a test reads them back from the initrd.

export interface ModuleGroup {
  why: string;
  modules: readonly string[];
}

/**
 * Enough to find and mount the root filesystem on every board kiln targets, and nothing else:
 * MODULES=most carried every storage, network and framebuffer driver of the arm64 kernel (a 4×
 * larger initrd that takes minutes to build). Names a kernel lacks are skipped by mkinitramfs.
 */
export const BOOT_INITRAMFS_MODULES: readonly ModuleGroup[] = [
  { why: 'SD cards: Pi 3/4 (Arasan, sdhost), Pi 5 (brcmstb)', modules: ['mmc_block', 'sdhci_iproc', 'bcm2835', 'sdhci_brcmstb'] },
  {
    why: 'USB mass storage: Pi 4 VL805 behind PCIe, Pi 3 dwc2, Pi 5 xhci',
    modules: ['pcie_brcmstb', 'reset_raspberrypi', 'xhci_pci', 'xhci_plat_hcd', 'dwc2', 'usb_storage', 'uas', 'sd_mod'],
  },
  { why: 'NVMe (Pi 5 PCIe, HATs)', modules: ['nvme'] },
  { why: 'Ethernet: Pi 4 genet, Pi 3 USB LAN, Pi 5 macb', modules: ['genet', 'mdio_bcm_unimac', 'broadcom', 'smsc95xx', 'lan78xx', 'macb'] },
  { why: 'QEMU virt (the end-to-end test and VMs)', modules: ['virtio_mmio', 'virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net'] },
  { why: 'the root filesystem', modules: ['ext4', 'crc32c_generic'] },
];

export function bootInitramfsModuleNames(): string[] {
  return BOOT_INITRAMFS_MODULES.flatMap((g) => [...g.modules]);
}

/** The list file initramfs-tools reads from /usr/share/initramfs-tools/modules.d/. */
export function modulesListFile(): string {
  return [
    '# kiln: the boot initramfs carries these modules (MODULES=list); see kiln docs/architecture.md',
    ...BOOT_INITRAMFS_MODULES.flatMap((g) => [`# ${g.why}`, ...g.modules]),
    '',
  ].join('\n');
}
