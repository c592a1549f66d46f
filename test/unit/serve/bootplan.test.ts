import { describe, expect, it } from 'vitest';
import {
  checkTftpPath,
  decideDhcp,
  planTftp,
  renderCmdline,
  renderConfigTxt,
  renderPxelinux,
  type TftpLookup,
} from '../../../src/serve/bootplan.js';
import { fakeImage, fakeNode } from '../../helpers/fakes.js';

const ctx = { httpBase: 'http://10.0.0.1:8080' };
const pxe = { mac: 'dc:a6:32:01:02:03', serial: '1234abcd', fourcc: 'RPi4', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };

describe('decideDhcp', () => {
  const img = fakeImage();
  it('serves a registered node with plan install', () => {
    const d = decideDhcp(fakeNode(), pxe, img, { mode: 'proxy', discovery: false });
    expect(d).toMatchObject({ action: 'serve', menu: 'Raspberry Pi Boot' });
  });
  it('declines plan local when self-healing is off for the node', () => {
    expect(decideDhcp(fakeNode({ plan: 'local', selfHeal: false }), pxe, img, { mode: 'proxy', discovery: true }).action).toBe('ignore');
  });
  it('records unknown Pis only when discovery is on', () => {
    expect(decideDhcp(undefined, pxe, img, { mode: 'proxy', discovery: true }).action).toBe('discover');
    expect(decideDhcp(undefined, pxe, img, { mode: 'proxy', discovery: false }).action).toBe('ignore');
    const laptop = { mac: '00:11:22:33:44:55', vendorClass: 'MSFT 5.0' };
    expect(decideDhcp(undefined, laptop, img, { mode: 'proxy', discovery: true }).action).toBe('ignore');
  });
  it('never answers a discovered node again until registered', () => {
    expect(decideDhcp(fakeNode({ plan: 'discovered' }), pxe, img, { mode: 'full', discovery: true }).action).toBe('ignore');
  });
  it('in proxy mode answers only PXE clients; full mode also U-Boot', () => {
    const uboot = { mac: '52:54:00:12:34:56', vendorClass: 'U-Boot.armv8' };
    expect(decideDhcp(fakeNode({ mac: uboot.mac }), uboot, img, { mode: 'proxy', discovery: false }).action).toBe('ignore');
    expect(decideDhcp(fakeNode({ mac: uboot.mac }), uboot, img, { mode: 'full', discovery: false }).action).toBe('serve');
  });
  it('does not answer when the assigned image is missing', () => {
    expect(decideDhcp(fakeNode(), pxe, undefined, { mode: 'full', discovery: false })).toMatchObject({ action: 'ignore' });
  });
  it('gives a Pi 3 (no option 97) the menu string with three trailing spaces', () => {
    const pi3 = { mac: 'b8:27:eb:00:00:01', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
    expect(decideDhcp(fakeNode({ mac: pi3.mac }), pi3, img, { mode: 'proxy', discovery: false })).toMatchObject({
      menu: 'Raspberry Pi Boot   ',
    });
  });
});

describe('checkTftpPath', () => {
  it.each([
    ['../etc/passwd', 'parent'],
    ['1234abcd/../../x', 'parent'],
    ['/etc/passwd', 'absolute'],
    ['a\u0000b', 'control'],
    ['x'.repeat(300), 'too long'],
    ['.hidden', 'hidden'],
    ['a\\..\\b', 'backslash'],
    ['', 'empty'],
  ])('refuses %j', (p, why) => {
    const r = checkTftpPath(p);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(why);
  });
  it('accepts nested boot paths', () => {
    expect(checkTftpPath('1234abcd/overlays/disable-bt.dtbo')).toEqual({
      ok: true,
      segments: ['1234abcd', 'overlays', 'disable-bt.dtbo'],
    });
  });
});

describe('planTftp', () => {
  const node = fakeNode();
  const img = fakeImage();
  const lookup = (over: Partial<TftpLookup> = {}): TftpLookup => ({
    byPrefix: (p) => (p === '1234abcd' || p === 'dc-a6-32-01-02-03' ? node : undefined),
    byIp: () => undefined,
    imageOf: () => img,
    defaultImage: () => img,
    ...over,
  });
  it('maps <serial>/… and <mac>/… to the image boot dir', () => {
    expect(planTftp('1234abcd/start4.elf', '10.0.0.9', lookup(), ctx)).toEqual({
      kind: 'file',
      root: img.bootDir,
      rel: ['start4.elf'],
      node,
    });
    expect(planTftp('DC-A6-32-01-02-03/overlays/x.dtbo', '10.0.0.9', lookup(), ctx)).toMatchObject({
      kind: 'file',
      rel: ['overlays', 'x.dtbo'],
    });
  });
  it('renders config.txt and cmdline.txt per node', () => {
    const c = planTftp('1234abcd/cmdline.txt', '10.0.0.9', lookup(), ctx);
    expect(c.kind).toBe('render');
    if (c.kind === 'render') expect(c.data.toString()).toContain('cgroup_enable=memory');
    // no seed URL over TFTP: the seed needs the credential only the installer gets
    if (c.kind === 'render') expect(c.data.toString()).not.toContain('/seed/');
  });
  it('gives a parked node none of its files, rendered or not', () => {
    const parked = fakeNode({ parked: '3 failed installs in a row' });
    const l = lookup({ byPrefix: () => parked });
    for (const p of ['1234abcd/start4.elf', '1234abcd/cmdline.txt', '1234abcd/installer/initrd.img', 'pxelinux.cfg/01-dc-a6-32-01-02-03']) {
      expect(planTftp(p, '10.0.0.9', l, ctx)).toEqual({ kind: 'refuse', code: 'notfound', reason: 'parked: 3 failed installs in a row' });
    }
  });
  it('refuses unknown nodes and nodes not to be installed', () => {
    expect(planTftp('deadbeef/start4.elf', '10.0.0.9', lookup(), ctx)).toMatchObject({ kind: 'refuse', code: 'notfound' });
    const local = lookup({ byPrefix: () => fakeNode({ plan: 'local' }) });
    expect(planTftp('1234abcd/start4.elf', '10.0.0.9', local, ctx)).toMatchObject({ kind: 'refuse' });
  });
  it('serves only generic firmware without a prefix to an unknown address', () => {
    expect(planTftp('bootcode.bin', '10.0.0.9', lookup(), ctx)).toMatchObject({ kind: 'file', rel: ['bootcode.bin'] });
    expect(planTftp('config.txt', '10.0.0.9', lookup(), ctx)).toMatchObject({ kind: 'refuse' });
    expect(planTftp('bootsig.bin', '10.0.0.9', lookup(), ctx)).toMatchObject({ kind: 'refuse', code: 'notfound' });
  });
  it('serves a node recognised by address without a prefix', () => {
    const l = lookup({ byIp: (ip) => (ip === '10.0.0.9' ? node : undefined) });
    expect(planTftp('config.txt', '10.0.0.9', l, ctx)).toMatchObject({ kind: 'render' });
  });
  it('renders pxelinux.cfg/01-<mac> for U-Boot', () => {
    const p = planTftp('pxelinux.cfg/01-dc-a6-32-01-02-03', '10.0.0.9', lookup(), ctx);
    expect(p.kind).toBe('render');
    if (p.kind === 'render') expect(p.data.toString()).toContain('kernel dc-a6-32-01-02-03/vmlinuz');
    expect(planTftp('pxelinux.cfg/default', '10.0.0.9', lookup(), ctx)).toMatchObject({ kind: 'refuse' });
  });
  it('serves installer files only when the image has them', () => {
    expect(planTftp('1234abcd/installer/vmlinuz', '1.1.1.1', lookup(), ctx)).toMatchObject({ kind: 'refuse' });
    const withInst = fakeImage({ installerDir: '/srv/dist/fixture/installer' });
    expect(planTftp('1234abcd/installer/vmlinuz', '1.1.1.1', lookup({ imageOf: () => withInst }), ctx)).toMatchObject({
      kind: 'file',
      root: '/srv/dist/fixture/installer',
      rel: ['vmlinuz'],
    });
  });
});

describe('rendering', () => {
  it('cmdline without installer keeps the image root and adds cgroups (no seed: that needs an enrolled credential)', () => {
    const s = renderCmdline(fakeNode(), fakeImage(), ctx);
    expect(s).toBe('root=PARTUUID=abcdef01-02 console=serial0,115200 console=tty1 rootwait fsck.repair=yes cgroup_memory=1 cgroup_enable=memory');
  });
  it('cmdline with installer carries the install token it is given, and no seed URL', () => {
    const s = renderCmdline(fakeNode(), fakeImage({ installerDir: '/x' }), { ...ctx, installToken: () => 'c'.repeat(64) });
    expect(s).toMatch(new RegExp(` kiln\\.token=${'c'.repeat(64)}$`));
    expect(s).not.toContain('ds=');
    expect(renderCmdline(fakeNode(), fakeImage({ installerDir: '/x' }), { ...ctx, installToken: () => undefined })).not.toContain('kiln.token');
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
  it('pxelinux uses the installer kernel when present', () => {
    const s = renderPxelinux(fakeNode(), fakeImage({ installerDir: '/x' }), ctx);
    expect(s).toContain('kernel dc-a6-32-01-02-03/installer/vmlinuz');
    expect(s).toContain('initrd dc-a6-32-01-02-03/installer/initrd.img');
  });
});

describe('U-Boot boot script', () => {
  it('is served by address as a valid legacy script image', async () => {
    const { crc32 } = await import('node:zlib');
    const node = fakeNode();
    const lookup: TftpLookup = {
      byPrefix: () => undefined,
      byIp: (ip) => (ip === '10.0.0.9' ? node : undefined),
      imageOf: () => fakeImage(),
      defaultImage: () => undefined,
    };
    const p = planTftp('boot.scr.uimg', '10.0.0.9', lookup, ctx);
    expect(p.kind).toBe('render');
    if (p.kind !== 'render') return;
    const img = p.data;
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
    expect(planTftp('boot.scr.uimg', '10.0.0.10', lookup, ctx)).toMatchObject({ kind: 'refuse' });
  });
});
