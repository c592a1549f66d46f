import { describe, expect, it } from 'vitest';
import { decideDhcp } from '../../../../src/serve/plan/dhcp.js';
import type { EventType } from '../../../../src/serve/nodes/model.js';
import { fakeImage, fakeNode } from '../fixtures.js';

const pxe = { mac: 'dc:a6:32:01:02:03', serial: '1234abcd', fourcc: 'RPi4', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const uboot = { mac: '52:54:00:12:34:56', vendorClass: 'PXEClient:Arch:00011:UNDI:003000' };
const os = { mac: '52:54:00:12:34:56', vendorClass: 'systemd-networkd' };
const ev = (...types: EventType[]) => types.map((type) => ({ type }));

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

describe('self-healing in the DHCP decision', () => {
  const img = fakeImage();
  it('serves the installer to a local node that netboots (its disk did not boot), when self-heal is on', () => {
    const d = decideDhcp(fakeNode({ plan: 'local', selfHeal: true }), pxe, img, { mode: 'proxy', discovery: false }, ev('installed', 'first-boot'));
    expect(d).toMatchObject({ action: 'heal', menu: 'Raspberry Pi Boot' });
    expect(d.action === 'heal' && d.reason).toMatch(/disk did not boot/);
    expect(decideDhcp(fakeNode({ plan: 'local', mac: uboot.mac, selfHeal: true }), uboot, img, { mode: 'full', discovery: false }).action).toBe('heal');
  });
  it('self-heal is opt-in: a PXE DISCOVER (anyone can forge one) does not flip a local node by default', () => {
    const d = decideDhcp(fakeNode({ plan: 'local' }), pxe, img, { mode: 'proxy', discovery: false }, ev('installed', 'first-boot'));
    expect(d).toMatchObject({ action: 'ignore', reason: 'plan local: boots its own disk' });
    expect(decideDhcp(fakeNode({ plan: 'local', selfHeal: false }), pxe, img, { mode: 'full', discovery: false }).action).toBe('ignore');
  });
  it('parks instead of looping when the last install never booted from disk', () => {
    const d = decideDhcp(fakeNode({ plan: 'local', selfHeal: true }), pxe, img, { mode: 'proxy', discovery: false }, ev('install-started', 'installed'));
    expect(d).toMatchObject({ action: 'park' });
  });
  it('gives a local node only an address in full mode when its own system asks', () => {
    expect(decideDhcp(fakeNode({ plan: 'local', mac: os.mac }), os, img, { mode: 'full', discovery: false }).action).toBe('lease');
    expect(decideDhcp(fakeNode({ plan: 'local', mac: os.mac }), os, img, { mode: 'proxy', discovery: false }).action).toBe('ignore');
  });
  it('answers a packet naming a node by its serial only from that node\'s own MAC (a made-up MAC would take a pool address)', () => {
    const n = fakeNode({ mac: 'dc:a6:32:01:02:03', serial: '1234abcd' });
    const forged = { ...pxe, mac: '02:66:00:00:00:01' };
    expect(decideDhcp(n, forged, img, { mode: 'full', discovery: false })).toMatchObject({ action: 'ignore', reason: expect.stringMatching(/^mac mismatch/) });
    expect(decideDhcp(n, pxe, img, { mode: 'full', discovery: false }).action).toBe('serve');
    // a node registered by serial alone takes the MAC its first DISCOVER shows (learnIdentity)
    expect(decideDhcp(fakeNode({ mac: null, serial: '1234abcd' }), forged, img, { mode: 'full', discovery: false }).action).toBe('serve');
  });
  it('never answers a parked node', () => {
    const d = decideDhcp(fakeNode({ parked: '3 failed installs' }), pxe, img, { mode: 'proxy', discovery: false });
    expect(d).toMatchObject({ action: 'ignore', reason: 'parked: 3 failed installs' });
  });
});
