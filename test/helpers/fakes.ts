import type { ImageInfo } from '../../src/serve/images.js';
import type { NodeRecord } from '../../src/serve/nodes/model.js';

// Hand-made records for pure tests; nothing here is a real build.
export function fakeNode(over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    name: 'pi-01',
    serial: '1234abcd',
    mac: 'dc:a6:32:01:02:03',
    role: 'agent',
    image: 'fixture',
    plan: 'install',
    state: 'registered',
    sshKeys: [],
    clusterInit: false,
    ip: null,
    lastSeen: null,
    source: 'db',
    ...over,
  };
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
