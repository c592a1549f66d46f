import { describe, expect, it } from 'vitest';
import { checkTftpPath, planTftp, type TftpLookup } from '../../../../src/serve/plan/tftp.js';
import { fakeImage, fakeNode } from '../../../helpers/fakes.js';
import type { ImageInfo } from '../../../../src/serve/images.js';

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
  it('accepts nested boot paths', async () => {
    expect(checkTftpPath('1234abcd/overlays/disable-bt.dtbo')).toEqual({
      ok: true,
      segments: ['1234abcd', 'overlays', 'disable-bt.dtbo'],
    });
  });
});

const node = fakeNode();
const img = fakeImage();

describe('planTftp', () => {
  const lookup = (over: Partial<TftpLookup> = {}): TftpLookup => ({
    byPrefix: async (p) => (p === '1234abcd' || p === 'dc-a6-32-01-02-03' ? node : undefined),
    byIp: async () => undefined,
    imageOf: () => img,
    defaultImage: () => img,
    ...over,
  });
  it('maps <serial>/… and <mac>/… to the image boot dir', async () => {
    expect(await planTftp('1234abcd/start4.elf', '10.0.0.9', lookup())).toEqual({
      kind: 'file',
      root: img.bootDir,
      rel: ['start4.elf'],
      node,
    });
    expect(await planTftp('DC-A6-32-01-02-03/overlays/x.dtbo', '10.0.0.9', lookup())).toMatchObject({
      kind: 'file',
      rel: ['overlays', 'x.dtbo'],
    });
  });
  it('renders config.txt and cmdline.txt per node', async () => {
    for (const file of ['cmdline.txt', 'config.txt'] as const) {
      expect(await planTftp(`1234abcd/${file}`, '10.0.0.9', lookup())).toEqual({ kind: 'render', file, node, image: img });
    }
  });
  it('refuses a board the image was not built for, naming both; an unknown model or an older manifest is served', async () => {
    const pi5Image = fakeImage({ manifest: { boards: ['pi4', 'virt'] } as ImageInfo['manifest'] });
    const l = (model: string | null, image: ImageInfo) => lookup({ byPrefix: async () => fakeNode({ model }), imageOf: () => image });
    expect(await planTftp('1234abcd/config.txt', '10.0.0.9', l('pi5', pi5Image))).toEqual({
      kind: 'refuse',
      code: 'denied',
      reason: 'image fixture targets pi4, virt, not this pi5',
    });
    expect(await planTftp('1234abcd/start4.elf', '10.0.0.9', l('cm4', pi5Image))).toMatchObject({ kind: 'file' });
    expect(await planTftp('1234abcd/config.txt', '10.0.0.9', l('unknown', pi5Image))).toMatchObject({ kind: 'render' });
    expect(await planTftp('1234abcd/config.txt', '10.0.0.9', l(null, pi5Image))).toMatchObject({ kind: 'render' });
    expect(await planTftp('1234abcd/config.txt', '10.0.0.9', l('pi5', img))).toMatchObject({ kind: 'render' });
  });
  it('gives a parked node none of its files, rendered or not', async () => {
    const parked = fakeNode({ parked: '3 failed installs in a row' });
    const l = lookup({ byPrefix: async () => parked });
    for (const p of ['1234abcd/start4.elf', '1234abcd/cmdline.txt', '1234abcd/installer/initrd.img', 'pxelinux.cfg/01-dc-a6-32-01-02-03']) {
      expect(await planTftp(p, '10.0.0.9', l)).toEqual({ kind: 'refuse', code: 'notfound', reason: 'parked: 3 failed installs in a row' });
    }
  });
  it('refuses unknown nodes and nodes not to be installed', async () => {
    expect(await planTftp('deadbeef/start4.elf', '10.0.0.9', lookup())).toMatchObject({ kind: 'refuse', code: 'notfound' });
    const local = lookup({ byPrefix: async () => fakeNode({ plan: 'local' }) });
    expect(await planTftp('1234abcd/start4.elf', '10.0.0.9', local)).toMatchObject({ kind: 'refuse' });
  });
  it('serves only generic firmware without a prefix to an unknown address', async () => {
    expect(await planTftp('bootcode.bin', '10.0.0.9', lookup())).toMatchObject({ kind: 'file', rel: ['bootcode.bin'] });
    expect(await planTftp('config.txt', '10.0.0.9', lookup())).toMatchObject({ kind: 'refuse' });
    expect(await planTftp('bootsig.bin', '10.0.0.9', lookup())).toMatchObject({ kind: 'refuse', code: 'notfound' });
  });
  it('serves a node recognised by address without a prefix', async () => {
    const l = lookup({ byIp: async (ip) => (ip === '10.0.0.9' ? node : undefined) });
    expect(await planTftp('config.txt', '10.0.0.9', l)).toMatchObject({ kind: 'render' });
  });
  it('renders pxelinux.cfg/01-<mac> for U-Boot', async () => {
    expect(await planTftp('pxelinux.cfg/01-dc-a6-32-01-02-03', '10.0.0.9', lookup())).toEqual({ kind: 'render', file: 'pxelinux.cfg', node, image: img });
    expect(await planTftp('pxelinux.cfg/default', '10.0.0.9', lookup())).toMatchObject({ kind: 'refuse' });
  });
  it('serves installer files only when the image has them', async () => {
    expect(await planTftp('1234abcd/installer/vmlinuz', '1.1.1.1', lookup())).toMatchObject({ kind: 'refuse' });
    const withInst = fakeImage({ installerDir: '/srv/dist/fixture/installer' });
    expect(await planTftp('1234abcd/installer/vmlinuz', '1.1.1.1', lookup({ imageOf: () => withInst }))).toMatchObject({
      kind: 'file',
      root: '/srv/dist/fixture/installer',
      rel: ['vmlinuz'],
    });
  });
});

describe('U-Boot boot script', () => {
  it('is served by address only', async () => {
    const lookup: TftpLookup = {
      byPrefix: async () => undefined,
      byIp: async (ip) => (ip === '10.0.0.9' ? node : undefined),
      imageOf: () => img,
      defaultImage: () => undefined,
    };
    for (const name of ['boot.scr.uimg', 'boot.scr'])
      expect(await planTftp(name, '10.0.0.9', lookup)).toEqual({ kind: 'render', file: 'boot.scr', node, image: img });
    expect(await planTftp('boot.scr.uimg', '10.0.0.10', lookup)).toMatchObject({ kind: 'refuse' });
  });
});
