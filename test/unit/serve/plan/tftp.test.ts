import { describe, expect, it } from 'vitest';
import { checkTftpPath, planTftp, type TftpLookup } from '../../../../src/serve/plan/tftp.js';
import { fakeImage, fakeNode } from '../fixtures.js';

const ctx = { httpBase: 'http://10.0.0.1:8080' };

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
