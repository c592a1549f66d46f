import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { carriesInstallToken, renderBootFile, renderCmdline, renderConfigTxt, renderPxelinux, UBOOT_APPEND_MAX } from '../../../../src/serve/plan/bootfiles.js';
import { must } from '../../../helpers/must.js';
import { fakeImage, fakeNode, realisticImage } from '../../../helpers/fakes.js';

const ctx = { httpBase: 'http://10.0.0.1:8080' };

describe('rendering', () => {
  it('cmdline without installer keeps the image root and adds cgroups (no seed: that needs an enrolled credential)', () => {
    const s = renderCmdline(fakeNode(), fakeImage(), ctx);
    expect(s).toBe('root=PARTUUID=abcdef01-02 console=serial0,115200 console=tty1 rootwait fsck.repair=yes cgroup_memory=1 cgroup_enable=memory');
  });
  it('cmdline with installer carries the install token it is given, and no seed URL', () => {
    const s = renderCmdline(fakeNode(), fakeImage({ installerDir: '/x' }), { ...ctx, installToken: 'c'.repeat(64) });
    expect(s).toMatch(new RegExp(` kiln\\.token=${'c'.repeat(64)}$`));
    expect(s).not.toContain('ds=');
    expect(renderCmdline(fakeNode(), fakeImage({ installerDir: '/x' }), { ...ctx, installToken: undefined })).not.toContain('kiln.token');
  });
  it('cmdline with installer names the image, bmap, hash and events URL and drops root=', () => {
    const s = renderCmdline(fakeNode(), fakeImage({ installerDir: '/x' }), ctx);
    expect(s).not.toContain('root=');
    expect(s).toContain('kiln.image=http://10.0.0.1:8080/images/fixture/fixture.img');
    expect(s).toContain('kiln.bmap=http://10.0.0.1:8080/images/fixture/fixture.bmap');
    expect(s).toContain(`kiln.sha256=${'a'.repeat(64)}`);
    expect(s).toContain('kiln.events=http://10.0.0.1:8080/api/nodes/pi-01/events');
  });
  it('config.txt points at the installer when there is one', () => {
    expect(renderConfigTxt(fakeImage())).toBe(fakeImage().configTxt);
    const c = renderConfigTxt(fakeImage({ installerDir: '/x' }));
    expect(c).not.toMatch(/^kernel=vmlinuz$/m);
    expect(c).toContain('kernel=installer/vmlinuz\ninitramfs installer/initrd.img followkernel');
  });
  it('with an installer, each board section boots the installer and a board the image lacks still finds no kernel', () => {
    const configTxt =
      'arm_64bit=1\n[pi4]\nmax_framebuffers=2\n[all]\n\n[pi4]\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n\n[pi5]\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n[all]\n';
    const c = renderConfigTxt(fakeImage({ installerDir: '/x', configTxt }));
    expect(c).toBe(configTxt.replaceAll('kernel=vmlinuz\ninitramfs initrd.img', 'kernel=installer/vmlinuz\ninitramfs installer/initrd.img'));
    expect(c.match(/^kernel=/gm)).toHaveLength(2);
    // an older image with no kernel line gets the installer for [all]
    expect(renderConfigTxt(fakeImage({ installerDir: '/x', configTxt: 'arm_64bit=1\n' }))).toMatch(
      /\[all\]\nkernel=installer\/vmlinuz\ninitramfs installer\/initrd.img followkernel\n$/,
    );
  });
  it("appends the node's own config.txt lines last, after [all], so the image's last board section does not gate them", () => {
    const configTxt = 'arm_64bit=1\n[pi5]\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n';
    const lines = ['dtoverlay=disable-wifi', '[pi4]', 'gpu_mem=16'];
    const c = renderConfigTxt(fakeImage({ installerDir: '/x', configTxt }), lines);
    expect(c).toBe(
      'arm_64bit=1\n[pi5]\nkernel=installer/vmlinuz\ninitramfs installer/initrd.img followkernel\n' +
        "\n# kiln: this node's own lines\n[all]\ndtoverlay=disable-wifi\n[pi4]\ngpu_mem=16\n",
    );
    // an image config.txt without a final newline still gets its own last line intact
    expect(renderConfigTxt(fakeImage({ configTxt: 'arm_64bit=1' }), ['gpu_mem=16'])).toBe("arm_64bit=1\n\n# kiln: this node's own lines\n[all]\ngpu_mem=16\n");
    // none: the file is the image's, byte for byte
    expect(renderConfigTxt(fakeImage({ configTxt }), [])).toBe(configTxt);
    // what TFTP serves for the node is rendered from its record
    const served = renderBootFile('config.txt', fakeNode({ configTxt: ['dtoverlay=disable-bt'] }), fakeImage(), ctx).toString();
    expect(served.endsWith('[all]\ndtoverlay=disable-bt\n')).toBe(true);
    expect(renderBootFile('config.txt', fakeNode(), fakeImage(), ctx).toString()).toBe(fakeImage().configTxt);
  });
  it('pxelinux uses the installer kernel when present', () => {
    const s = renderPxelinux(fakeNode(), fakeImage({ installerDir: '/x' }), ctx);
    expect(s).toContain('kernel dc-a6-32-01-02-03/installer/vmlinuz');
    expect(s).toContain('initrd dc-a6-32-01-02-03/installer/initrd.img');
  });
});

describe('installer command line', () => {
  const img = fakeImage({ installerDir: '/x', ubootCmdline: 'root=PARTUUID=abcdef01-02 rootwait console=ttyAMA0,115200' });
  it('carries the raw image URL and the install token, never the report token', () => {
    const s = renderCmdline(fakeNode(), img, { httpBase: 'http://10.0.0.1:8080', installToken: 'f'.repeat(64) });
    expect(s).toContain('kiln.image=http://10.0.0.1:8080/images/fixture/fixture.img ');
    expect(s).toContain(`kiln.token=${'f'.repeat(64)}`);
    expect(s).toContain('kiln.node=pi-01 ');
  });
  it('U-Boot gets the image extlinux arguments (serial console of the board)', () => {
    const s = renderPxelinux(fakeNode(), img, { httpBase: 'http://10.0.0.1:8080' });
    expect(s).toContain('console=ttyAMA0,115200');
    expect(s).not.toContain('console=serial0');
  });
});

describe('U-Boot append length', () => {
  it('fits U-Boot 2023.01 pxe for a realistic node and image', () => {
    const img = realisticImage();
    const node = fakeNode({ name: 'worker-node-0017' });
    const pxe = renderPxelinux(node, img, { httpBase: 'http://192.168.100.200:8080', installToken: 'f'.repeat(64) });
    const append = must(/append (.*)/.exec(pxe)?.[1], 'the append line of the pxelinux config');
    expect(append.length).toBeLessThanOrEqual(UBOOT_APPEND_MAX);
    expect(append).toContain('console=ttyAMA0,115200');
    expect(append).not.toContain('cgroup');
  });
});

describe('renderBootFile', () => {
  it("ends cmdline.txt with a newline and gives pxelinux.cfg the node's MAC prefix", () => {
    expect(renderBootFile('cmdline.txt', fakeNode(), fakeImage(), ctx).toString()).toBe(`${renderCmdline(fakeNode(), fakeImage(), ctx)}\n`);
    expect(renderBootFile('config.txt', fakeNode(), fakeImage(), ctx).toString()).toBe(renderConfigTxt(fakeImage()));
    expect(renderBootFile('pxelinux.cfg', fakeNode(), fakeImage(), ctx).toString()).toContain('kernel dc-a6-32-01-02-03/vmlinuz');
  });
  it('asks for the install token only where it lands: an installer command line', () => {
    const inst = fakeImage({ installerDir: '/x' });
    expect(carriesInstallToken('cmdline.txt', inst)).toBe(true);
    expect(carriesInstallToken('pxelinux.cfg', inst)).toBe(true);
    expect(carriesInstallToken('config.txt', inst)).toBe(false);
    expect(carriesInstallToken('boot.scr', inst)).toBe(false);
    expect(carriesInstallToken('cmdline.txt', fakeImage())).toBe(false);
    // the token goes where carriesInstallToken says, and nowhere else
    const withToken = { ...ctx, installToken: 'e'.repeat(64) };
    for (const file of ['cmdline.txt', 'config.txt', 'pxelinux.cfg', 'boot.scr'] as const) {
      for (const image of [inst, fakeImage()]) {
        expect(renderBootFile(file, fakeNode(), image, withToken).toString().includes('e'.repeat(64)), `${file} ${image.installerDir}`).toBe(
          carriesInstallToken(file, image),
        );
      }
    }
  });
  it('wraps the U-Boot boot script as a valid legacy script image', () => {
    const img = renderBootFile('boot.scr', fakeNode(), fakeImage(), ctx);
    expect(img.readUInt32BE(0)).toBe(0x27051956);
    expect(img[30]).toBe(6); // script
    const header = Buffer.from(img.subarray(0, 64));
    const hcrc = header.readUInt32BE(4);
    header.writeUInt32BE(0, 4);
    expect(crc32(header) >>> 0).toBe(hcrc);
    const data = img.subarray(64);
    expect(data.length).toBe(img.readUInt32BE(12));
    expect(crc32(data) >>> 0).toBe(img.readUInt32BE(24));
    expect(data.subarray(8).toString()).toContain('if pxe get; then pxe boot; fi');
  });
});
