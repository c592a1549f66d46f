import { describe, expect, it } from 'vitest';
import { BOARDS, BOARD_NAMES } from '../../../src/boards/catalog.js';
import { type KernelFacts, checkKernel, describeShortfall, parseKernelConfig } from '../../../src/boards/kernel-check.js';
import { installerModules } from '../../../src/installer/modules.js';
import { PI5_SD_AND_ETHERNET_MODULES } from '../../helpers/pi5-modules.js';

// Facts shaped like the two real kernels (read from their .debs on 2026-12-03): trixie's 6.12 has
// no RP1 or BCM2712 SD driver; backports' 7.3.4 has them and renamed crc32c_generic.
const pi5Options = ['MMC_SDHCI_BRCMSTB', 'PINCTRL_BCM2712', 'GPIO_BRCMSTB', 'REGULATOR_GPIO', 'BCM2712_MIP', 'MISC_RP1', 'COMMON_CLK_RP1', 'PINCTRL_RP1'];
const common = [
  'MACB',
  'PCIE_BRCMSTB',
  'MMC_SDHCI_IPROC',
  'BCMGENET',
  'USB_XHCI_PCI',
  'RESET_RASPBERRYPI',
  'VIRTIO_MMIO',
  'VIRTIO_PCI',
  'VIRTIO_BLK',
  'VIRTIO_NET',
];
const baseModules = [
  'sdhci_iproc',
  'genet',
  'mdio_bcm_unimac',
  'broadcom',
  'pcie_brcmstb',
  'reset_raspberrypi',
  'xhci_pci',
  'macb',
  'nvme',
  'usb_storage',
  'uas',
  'sd_mod',
  'ext4',
];
const virtio = ['virtio_mmio', 'virtio_blk', 'virtio_scsi', 'virtio_net'];

const trixie: KernelFacts = {
  version: '6.12.117+deb13-arm64',
  packages: ['linux-image-6.12.117+deb13-arm64'],
  options: Object.fromEntries(common.map((o) => [o, 'm'])),
  modules: [...baseModules, ...virtio, 'crc32c_generic'],
  builtin: ['mmc_block', 'virtio_pci'],
  dtbs: ['bcm2711-rpi-4-b.dtb', 'bcm2711-rpi-400.dtb', 'bcm2711-rpi-cm4-io.dtb', 'bcm2712-rpi-5-b.dtb'],
};
const backports: KernelFacts = {
  version: '7.3.4+deb13-arm64',
  packages: ['linux-base-7.3.4+deb13-arm64', 'linux-modules-7.3.4+deb13-arm64'],
  options: Object.fromEntries([...common, ...pi5Options].map((o) => [o, 'm'])),
  modules: [...baseModules, ...virtio, 'crc32c_cryptoapi', ...PI5_SD_AND_ETHERNET_MODULES],
  builtin: ['mmc_block', 'virtio_pci'],
  dtbs: [...trixie.dtbs, 'bcm2712-d-rpi-5-b.dtb'],
};

describe('the kernel against the boards', () => {
  it("refuses a Pi 5 on trixie's 6.12 kernel and names each missing option, module and device tree", () => {
    const short = checkKernel(trixie, ['pi4', 'pi5', 'virt']);
    expect(short.map((s) => s.board)).toEqual(['pi5']);
    const [pi5] = short;
    expect(pi5?.options).toEqual(expect.arrayContaining(['MISC_RP1', 'PINCTRL_RP1', 'COMMON_CLK_RP1', 'MMC_SDHCI_BRCMSTB']));
    expect(pi5?.modules).toEqual(expect.arrayContaining(['rp1_pci', 'clk_rp1', 'pinctrl_rp1', 'sdhci_brcmstb']));
    expect(pi5?.dtbs).toEqual(['bcm2712-d-rpi-5-b.dtb']);
    const text = describeShortfall(trixie, short);
    expect(text).toMatch(/kernel 6\.12\.117\+deb13-arm64 .* lacks/);
    expect(text).toMatch(/pi5: kernel options not set: .*CONFIG_MISC_RP1/);
    expect(text).toMatch(/no device tree: bcm2712-d-rpi-5-b\.dtb/);
  });

  it('accepts the backports kernel for every board it was made for, and a renamed module under either name', () => {
    expect(checkKernel(backports, ['pi4', 'pi5', 'virt'])).toEqual([]);
    expect(checkKernel(trixie, ['pi4', 'virt'])).toEqual([]);
  });

  it('counts a built-in driver as present and an unset option as absent', () => {
    const noBlock = { ...backports, builtin: ['virtio_pci'] };
    expect(checkKernel(noBlock, ['pi5'])[0]?.modules).toEqual(['mmc_block']);
    const text = 'CONFIG_MACB=m\n# CONFIG_MMC_SDHCI_BRCMSTB is not set\nCONFIG_PCIE_BRCMSTB=y\nCONFIG_LOCALVERSION=""\nCONFIG_NR_CPUS=512\n';
    expect(parseKernelConfig(text)).toEqual({ MACB: 'm', PCIE_BRCMSTB: 'y' });
  });

  it('names a renamed module by both names when neither is there', () => {
    const short = checkKernel({ ...backports, modules: backports.modules.filter((m) => m !== 'crc32c_cryptoapi') }, ['virt']);
    expect(describeShortfall(backports, short)).toMatch(/no module: crc32c_generic or crc32c_cryptoapi/);
  });
});

describe('the board catalogue', () => {
  it('gives every Pi a config.txt section, device trees and a console; the Pi 5 needs no GPU firmware files', () => {
    for (const name of BOARD_NAMES) {
      const b = BOARDS[name];
      expect(b.name).toBe(name);
      if (name === 'virt') continue;
      expect(b.section).toBe(`[${name}]`);
      expect(b.dtbs.length).toBeGreaterThan(0);
      expect(b.console).toMatch(/^tty\w+,115200$/);
    }
    expect(BOARDS.pi5.firmware).toBeUndefined();
    expect(BOARDS.pi4.firmware?.required).toEqual(['start4.elf', 'fixup4.dat']);
    expect(BOARDS.pi4.firmware?.variants.test('start4x.elf')).toBe(true);
    expect(BOARDS.pi4.firmware?.variants.test('start_x.elf')).toBe(false);
  });

  it("gives the installer each board's network and disk drivers once, a renamed one under both names as optional", () => {
    const mods = installerModules(['pi4', 'pi5', 'virt']);
    const names = mods.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['genet', 'macb', 'rp1_pci', 'clk_rp1', 'pinctrl_rp1', 'sdhci_brcmstb', 'virtio_net', 'ext4']));
    expect(mods.filter((m) => m.optional).map((m) => m.name)).toEqual(['crc32c_generic', 'crc32c_cryptoapi']);
    expect(installerModules(['virt']).map((m) => m.name)).not.toContain('genet');
  });
});
