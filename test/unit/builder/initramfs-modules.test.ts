import { describe, expect, it } from 'vitest';
import { bootInitramfsModuleNames, modulesListFile } from '../../../src/builder/initramfs-modules.js';
import { customizeHook } from '../../../src/builder/stages/rootfs-hooks.js';

describe('boot initramfs module list', () => {
  it('covers SD, Ethernet, USB storage, NVMe, virtio and the root filesystem of the listed boards', () => {
    const names = bootInitramfsModuleNames(['pi4', 'pi5', 'virt']);
    for (const m of [
      'sdhci_iproc',
      'genet',
      'xhci_pci',
      'sdhci_brcmstb',
      'rp1_pci',
      'macb',
      'gpio_regulator',
      'nvme',
      'usb_storage',
      'uas',
      'virtio_blk',
      'virtio_net',
      'ext4',
    ])
      expect(names).toContain(m);
    // a renamed module goes in under both names; initramfs-tools skips the one the kernel lacks
    expect(names).toEqual(expect.arrayContaining(['crc32c_generic', 'crc32c_cryptoapi']));
    expect(new Set(names).size).toBe(names.length);
  });

  it('carries only what the listed boards need', () => {
    const names = bootInitramfsModuleNames(['virt']);
    expect(names).toContain('virtio_blk');
    expect(names).not.toContain('sdhci_brcmstb');
    expect(names).not.toContain('genet');
    expect(bootInitramfsModuleNames(['pi3'])).toEqual(expect.arrayContaining(['bcm2835', 'dwc2', 'smsc95xx', 'lan78xx']));
  });

  it('is written one module per line, groups as comments, each module once, for initramfs-tools', () => {
    const boards = ['pi4', 'pi5', 'virt'] as const;
    const text = modulesListFile(boards);
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(bootInitramfsModuleNames(boards));
    // pcie_brcmstb and broadcom are needed by the Pi 4 and the Pi 5: listed under the Pi 4 only
    expect(text.match(/^broadcom$/gm)).toHaveLength(1);
  });

  it('is what both rootfs modes configure (MODULES=list)', () => {
    for (const native of [false, true]) {
      const hook = customizeHook([], { dbus: false, native, boards: ['pi5'] });
      expect(hook).toContain("echo 'MODULES=list'");
      expect(hook).toContain(modulesListFile(['pi5']));
    }
  });
});
