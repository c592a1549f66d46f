// What each board kiln targets needs from the image: kernel options, the modules its boot and
// installer initramfs must carry, device trees, firmware files and its config.txt section. Pure
// data; the build checks the locked kernel against it (kernel-check.ts) before any slow work.

export const BOARD_NAMES = ['pi3', 'pi4', 'pi5', 'virt'] as const;
export type BoardName = (typeof BOARD_NAMES)[number];

/**
 * Modules for one purpose; names use `_` (the kernel treats `-` and `_` as one). `a|b` is one module
 * under two names (a kernel renamed it): either satisfies the need, both are listed for loading.
 */
export interface ModuleNeed {
  why: string;
  modules: readonly string[];
}

export interface Board {
  name: BoardName;
  title: string;
  /** config.txt conditional section the firmware applies on this board (none: not booted by the Pi firmware). */
  section?: string;
  /** Kernel options that must be y or m (without the CONFIG_ prefix). */
  kernelOptions: readonly string[];
  /** Loaded by the boot initramfs (to find the root filesystem) and by the installer (to reach kiln and the disk). */
  modules: readonly ModuleNeed[];
  /** Device trees under the kernel's broadcom/ directory, copied to the boot partition. */
  dtbs: readonly string[];
  /**
   * The board's GPU firmware from raspi-firmware (/usr/lib/raspi-firmware), loaded from the boot
   * medium: the files it cannot start without, and every variant (start_x, _cd, _db) config.txt may pick.
   */
  firmware?: { required: readonly string[]; variants: RegExp };
  /** The kernel console (the board's debug UART). */
  console: string;
}

/** Every board: the root filesystem and disks that are not SD cards. */
export const COMMON_MODULES: readonly ModuleNeed[] = [
  { why: 'USB disks', modules: ['usb_storage', 'uas', 'sd_mod'] },
  // modules.dep does not list it: ext4 names it as a softdep (crypto-crc32c) for metadata_csum
  { why: 'the root filesystem (ext4 with metadata checksums)', modules: ['ext4', 'crc32c_generic|crc32c_cryptoapi'] },
];

export const BOARDS: Readonly<Record<BoardName, Board>> = {
  pi3: {
    name: 'pi3',
    title: 'Raspberry Pi 3 (BCM2837)',
    section: '[pi3]',
    kernelOptions: ['MMC_BCM2835', 'MMC_SDHCI_IPROC', 'USB_DWC2', 'USB_NET_SMSC95XX', 'USB_LAN78XX'],
    modules: [
      { why: 'Pi 3 SD card (sdhost, Arasan)', modules: ['mmc_block', 'bcm2835', 'sdhci_iproc'] },
      { why: 'Pi 3 USB and its USB Ethernet (3B smsc95xx, 3B+ lan78xx)', modules: ['dwc2', 'smsc95xx', 'lan78xx'] },
    ],
    dtbs: ['bcm2837-rpi-3-b.dtb', 'bcm2837-rpi-3-b-plus.dtb', 'bcm2837-rpi-3-a-plus.dtb'],
    firmware: { required: ['bootcode.bin', 'start.elf', 'fixup.dat'], variants: /^(bootcode\.bin|start(_cd|_db|_x)?\.elf|fixup(_cd|_db|_x)?\.dat)$/ },
    console: 'ttyS1,115200',
  },
  pi4: {
    name: 'pi4',
    title: 'Raspberry Pi 4 / 400 (BCM2711)',
    section: '[pi4]',
    kernelOptions: ['MMC_SDHCI_IPROC', 'BCMGENET', 'PCIE_BRCMSTB', 'USB_XHCI_PCI', 'RESET_RASPBERRYPI'],
    modules: [
      { why: 'Pi 4 SD card (emmc2)', modules: ['mmc_block', 'sdhci_iproc'] },
      { why: 'Pi 4 Ethernet (GENET, its MDIO bus and PHY)', modules: ['genet', 'mdio_bcm_unimac', 'broadcom'] },
      { why: 'Pi 4 USB 3 (VL805 behind PCIe, firmware reset)', modules: ['pcie_brcmstb', 'reset_raspberrypi', 'xhci_pci'] },
    ],
    dtbs: ['bcm2711-rpi-4-b.dtb', 'bcm2711-rpi-400.dtb', 'bcm2711-rpi-cm4-io.dtb'],
    firmware: { required: ['start4.elf', 'fixup4.dat'], variants: /^(start4(cd|db|x)?\.elf|fixup4(cd|db|x)?\.dat)$/ },
    console: 'ttyS1,115200',
  },
  pi5: {
    name: 'pi5',
    title: 'Raspberry Pi 5 (BCM2712 with RP1)',
    section: '[pi5]',
    kernelOptions: [
      'MMC_SDHCI_BRCMSTB',
      'PINCTRL_BCM2712',
      'GPIO_BRCMSTB',
      'REGULATOR_GPIO',
      'BCM2712_MIP',
      'PCIE_BRCMSTB',
      'MISC_RP1',
      'COMMON_CLK_RP1',
      'PINCTRL_RP1',
      'MACB',
    ],
    modules: [
      // The SD node's suppliers (pin control, card-detect GPIO, I/O voltage regulator) are not
      // module dependencies of sdhci_brcmstb: without them it defers probing forever.
      {
        why: 'Pi 5 SD card and its suppliers',
        modules: ['mmc_block', 'sdhci_brcmstb', 'pinctrl_brcmstb_bcm2712', 'pinctrl_brcmstb', 'gpio_brcmstb', 'gpio_regulator'],
      },
      // Ethernet sits in RP1, behind PCIe: the MSI controller, RP1 itself, its clocks and pins, then the MAC and PHY.
      { why: 'Pi 5 Ethernet (RP1 behind PCIe)', modules: ['irq_bcm2712_mip', 'pcie_brcmstb', 'rp1_pci', 'clk_rp1', 'pinctrl_rp1', 'macb', 'broadcom'] },
      { why: 'Pi 5 NVMe (PCIe)', modules: ['nvme'] },
    ],
    // C0 and D0 steppings have their own upstream trees; the firmware needs no start*.elf (it is in the EEPROM).
    dtbs: ['bcm2712-rpi-5-b.dtb', 'bcm2712-d-rpi-5-b.dtb'],
    console: 'ttyAMA10,115200',
  },
  virt: {
    name: 'virt',
    title: "QEMU's virt machine (the end-to-end test and VMs)",
    kernelOptions: ['VIRTIO_MMIO', 'VIRTIO_PCI', 'VIRTIO_BLK', 'VIRTIO_NET'],
    modules: [{ why: 'QEMU virt devices', modules: ['virtio_mmio', 'virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net'] }],
    dtbs: [],
    console: 'ttyAMA0,115200',
  },
};

export function boardsOf(names: readonly BoardName[]): Board[] {
  return [...new Set(names)].map((n) => BOARDS[n]);
}

/** The module needs of the listed boards, group by group, in catalogue order (common ones last). */
export function moduleNeeds(names: readonly BoardName[]): ModuleNeed[] {
  return [...boardsOf(names).flatMap((b) => b.modules), ...COMMON_MODULES];
}

/** A module an initramfs carries and loads, under the first purpose that named it. */
export interface ModuleToLoad {
  name: string;
  why: string;
  /** One name of a renamed module (`a|b`): the kernel has one of them, the build checked which. */
  alternative: boolean;
}

/** Every module the listed boards need, each name once, `a|b` as both names, in catalogue order. */
export function modulesToLoad(names: readonly BoardName[]): ModuleToLoad[] {
  const seen = new Set<string>();
  const out: ModuleToLoad[] = [];
  for (const g of moduleNeeds(names)) {
    for (const need of g.modules) {
      const alternatives = moduleAlternatives(need);
      for (const name of alternatives) {
        if (seen.has(name)) continue;
        seen.add(name);
        out.push({ name, why: g.why, alternative: alternatives.length > 1 });
      }
    }
  }
  return out;
}

/** The names one need may go by (`crc32c_generic|crc32c_cryptoapi`). */
export function moduleAlternatives(need: string): string[] {
  return need.split('|');
}
