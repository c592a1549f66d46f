import type { ImageInfo } from '../../src/serve/images.js';
import { blankNode, type NodeRecord } from '../../src/serve/nodes/model.js';

// Hand-made records for pure tests; nothing here is a real build.
export function fakeNode(over: Partial<NodeRecord> = {}): NodeRecord {
  return { ...blankNode('pi-01'), serial: '1234abcd', mac: 'dc:a6:32:01:02:03', image: 'fixture', ...over };
}

/**
 * The test image as it is really named, with its real U-Boot arguments and an installer: the
 * longest command line a realistic node gets, for the U-Boot length limit.
 */
export function realisticImage(): ImageInfo {
  return fakeImage({
    name: 'pi-k3s-test',
    files: { img: 'pi-k3s-test.img', zst: 'pi-k3s-test.img.zst', bmap: 'pi-k3s-test.bmap' },
    installerDir: '/x',
    ubootCmdline:
      'root=PARTUUID=9a834837-02 rootfstype=ext4 rootwait fsck.repair=yes net.ifnames=0 cgroup_memory=1 cgroup_enable=memory console=ttyAMA0,115200',
  });
}

export function fakeImage(over: Partial<ImageInfo> = {}): ImageInfo {
  return {
    name: 'fixture',
    dir: '/srv/dist/fixture',
    bootDir: '/srv/dist/fixture/boot',
    installerDir: null,
    diskId: 'abcdef01',
    sha256: 'a'.repeat(64),
    size: 1024,
    files: { img: 'fixture.img', zst: 'fixture.img.zst', bmap: 'fixture.bmap' },
    zstSha256: 'b'.repeat(64),
    cmdline: 'console=serial0,115200 console=tty1 root=PARTUUID=abcdef01-02 rootwait fsck.repair=yes',
    configTxt: 'arm_64bit=1\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n',
    manifest: {} as ImageInfo['manifest'],
    ...over,
  };
}
