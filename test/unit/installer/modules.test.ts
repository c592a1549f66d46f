import { describe, expect, it } from 'vitest';
import { moduleName, parseModulesBuiltin, parseModulesDep, plainModulePath, planModules } from '../../../src/installer/modules.js';
import { checkArm64Image } from '../../../src/installer/initramfs.js';

const DEP = `kernel/drivers/block/virtio_blk.ko.xz:
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/net/core/failover.ko.xz:
kernel/fs/ext4/ext4.ko.xz: kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz
kernel/fs/mbcache.ko.xz:
kernel/fs/jbd2/jbd2.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/drivers/mmc/host/sdhci-iproc.ko.xz: kernel/drivers/mmc/host/sdhci-pltfm.ko.xz kernel/drivers/mmc/host/sdhci.ko.xz
kernel/drivers/mmc/host/sdhci-pltfm.ko.xz: kernel/drivers/mmc/host/sdhci.ko.xz
kernel/drivers/mmc/host/sdhci.ko.xz:
`;

describe('installer modules', () => {
  const dep = parseModulesDep(DEP);
  it('names modules as modprobe does (dashes are underscores, no suffix)', () => {
    expect(moduleName('kernel/drivers/mmc/host/sdhci-iproc.ko.xz')).toBe('sdhci_iproc');
    expect(plainModulePath('kernel/fs/ext4/ext4.ko.xz')).toBe('kernel/fs/ext4/ext4.ko');
  });
  it('orders the closure with every dependency before its users, once', () => {
    const p = planModules(dep, [{ name: 'virtio_net' }, { name: 'sdhci-iproc' }, { name: 'ext4' }, { name: 'net_failover' }]);
    expect(p.order).toEqual([
      'kernel/net/core/failover.ko.xz',
      'kernel/drivers/net/net_failover.ko.xz',
      'kernel/drivers/net/virtio_net.ko.xz',
      'kernel/drivers/mmc/host/sdhci.ko.xz',
      'kernel/drivers/mmc/host/sdhci-pltfm.ko.xz',
      'kernel/drivers/mmc/host/sdhci-iproc.ko.xz',
      'kernel/fs/mbcache.ko.xz',
      'kernel/fs/jbd2/jbd2.ko.xz',
      'kernel/lib/crc16.ko.xz',
      'kernel/fs/ext4/ext4.ko.xz',
    ]);
  });
  it('skips optional and built-in modules, fails on a missing required one', () => {
    expect(planModules(dep, [{ name: 'macb', optional: true }]).skipped).toEqual(['macb']);
    expect(planModules(dep, [{ name: 'vfat' }], parseModulesBuiltin('kernel/fs/fat/vfat.ko\n')).order).toEqual([]);
    expect(() => planModules(dep, [{ name: 'genet' }])).toThrow(/has no module genet/);
  });
  it('reports a broken modules.dep clearly', () => {
    expect(() => planModules(parseModulesDep('a.ko: b.ko\n'), [{ name: 'a' }])).toThrow(/no entry for it/);
    expect(() => planModules(parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n'), [{ name: 'a' }])).toThrow(/cycle/);
    expect(() => parseModulesDep('garbage line\n')).toThrow(/cannot read/);
  });
  it('accepts only an uncompressed arm64 Image as the installer kernel', () => {
    const img = Buffer.alloc(64);
    img.write('ARMd', 0x38, 'latin1');
    expect(() => checkArm64Image(img)).not.toThrow();
    const gz = Buffer.alloc(64);
    gz[0] = 0x1f;
    gz[1] = 0x8b;
    expect(() => checkArm64Image(gz)).toThrow(/gzip/);
  });
});
