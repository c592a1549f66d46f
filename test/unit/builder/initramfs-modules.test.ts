import { describe, expect, it } from 'vitest';
import { BOOT_INITRAMFS_MODULES, bootInitramfsModuleNames, modulesListFile } from '../../../src/builder/initramfs-modules.js';
import { customizeHook } from '../../../src/builder/stages/rootfs-hooks.js';

describe('boot initramfs module list', () => {
  it('covers SD, USB storage, NVMe, Ethernet, virtio and the root filesystem', () => {
    const names = bootInitramfsModuleNames();
    for (const m of ['sdhci_iproc', 'usb_storage', 'uas', 'xhci_pci', 'nvme', 'genet', 'virtio_blk', 'virtio_pci', 'virtio_net', 'ext4'])
      expect(names).toContain(m);
    expect(new Set(names).size).toBe(names.length);
  });

  it('is written one module per line, groups as comments, for initramfs-tools', () => {
    const text = modulesListFile();
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(bootInitramfsModuleNames());
    expect(text.match(/^# /gm)?.length).toBe(BOOT_INITRAMFS_MODULES.length + 1);
  });

  it('is what both rootfs modes configure (MODULES=list)', () => {
    for (const native of [false, true]) {
      const hook = customizeHook([], { dbus: false, native });
      expect(hook).toContain("echo 'MODULES=list'");
      expect(hook).toContain(modulesListFile());
    }
  });
});
