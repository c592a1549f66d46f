import { describe, expect, it } from 'vitest';
import { decideDhcp, renderCmdline, renderPxelinux } from '../../../src/serve/bootplan.js';
import { failedInARow, selfHealBlocked, type EventType } from '../../../src/serve/nodes/model.js';
import { NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { fakeImage, fakeNode } from '../../helpers/fakes.js';

const pxe = { mac: 'dc:a6:32:01:02:03', serial: '1234abcd', fourcc: 'RPi4', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const uboot = { mac: '52:54:00:12:34:56', vendorClass: 'PXEClient:Arch:00011:UNDI:003000' };
const os = { mac: '52:54:00:12:34:56', vendorClass: 'systemd-networkd' };
const ev = (...types: EventType[]) => types.map((type) => ({ type }));

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

describe('failure counting', () => {
  it('counts failed installs since the last success or operator action', () => {
    expect(failedInARow(ev('registered', 'install-failed', 'install-failed'))).toBe(2);
    expect(failedInARow(ev('install-failed', 'installed', 'install-failed'))).toBe(1);
    expect(failedInARow(ev('install-failed', 'install-failed', 'reprovision'))).toBe(0);
    expect(selfHealBlocked(ev('installed', 'dhcp-seen'))).toMatch(/no first boot/);
    expect(selfHealBlocked(ev('installed', 'first-boot', 'dhcp-seen'))).toBeUndefined();
  });
  it('parks a node after three failed installs in a row and unparks it on reprovision', () => {
    const r = new NodeRegistry(':memory:');
    r.upsert({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', role: 'agent', sshKeys: [], clusterInit: false });
    for (let i = 0; i < 3; i++) r.record('pi-01', 'install-failed', { message: `disk error ${i}` });
    const n = r.mustGet('pi-01');
    expect(n.parked).toMatch(/3 failed installs in a row; last: disk error 2/);
    expect(n.state).toBe('failed');
    expect(r.events({ node: 'pi-01' }).map((e) => e.type)).toContain('parked');
    expect(r.reprovision('pi-01').parked).toBeNull();
    r.close();
  });
  it('reads install milestones by type: 10,000 other events hide neither a failure streak nor an install without first boot', () => {
    const r = new NodeRegistry(':memory:');
    r.upsert({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', role: 'agent', sshKeys: [], clusterInit: false, selfHeal: true });
    r.record('pi-01', 'install-failed', { message: 'one' });
    r.record('pi-01', 'install-failed', { message: 'two' });
    const chatter = (): void => r.batch(() => {
      for (let i = 0; i < 10_000; i++) r.record('pi-01', 'seed-fetched', { i });
    });
    chatter();
    r.record('pi-01', 'install-failed', { message: 'three' });
    expect(r.mustGet('pi-01').parked).toMatch(/^3 failed installs in a row; last: three/);
    r.reprovision('pi-01');
    r.record('pi-01', 'installed', { sha256: 'a'.repeat(64) });
    chatter();
    expect(selfHealBlocked(r.decisionHistory('pi-01'))).toMatch(/no first boot/);
    const d = decideDhcp(r.mustGet('pi-01'), pxe, fakeImage(), { mode: 'proxy', discovery: false }, r.decisionHistory('pi-01'));
    expect(d.action).toBe('park');
    r.close();
  });
  it('self-heal switches the plan to install and records why; installed switches back', () => {
    const r = new NodeRegistry(':memory:');
    r.upsert({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', role: 'agent', sshKeys: [], clusterInit: false, plan: 'local' });
    expect(r.selfHeal('pi-01', 'disk did not boot').plan).toBe('install');
    r.record('pi-01', 'installed', { sha256: 'a'.repeat(64) });
    expect(r.mustGet('pi-01').plan).toBe('local');
    expect(r.events({ node: 'pi-01' }).find((e) => e.type === 'self-heal')?.data).toEqual({ reason: 'disk did not boot' });
    r.close();
  });
  it('keeps the per-node self-heal setting', () => {
    const r = new NodeRegistry(':memory:');
    expect(r.upsert({ name: 'pi-02', mac: 'dc:a6:32:01:02:04', role: 'agent', sshKeys: [], clusterInit: false, selfHeal: false }).selfHeal).toBe(false);
    expect(r.upsert({ name: 'pi-02', role: 'agent', sshKeys: [], clusterInit: false }).selfHeal).toBe(false);
    r.close();
  });
});

describe('installer command line', () => {
  const img = fakeImage({ installerDir: '/x', ubootCmdline: 'root=PARTUUID=abcdef01-02 rootwait console=ttyAMA0,115200' });
  it('carries the raw image URL and the install token, never the report token', () => {
    const s = renderCmdline(fakeNode(), img, { httpBase: 'http://10.0.0.1:8080', installToken: () => 'f'.repeat(64) });
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
  it('fits U-Boot 2023.01 pxe for a realistic node and image', async () => {
    const { UBOOT_APPEND_MAX } = await import('../../../src/serve/bootplan.js');
    const img = fakeImage({
      name: 'pi-k3s-test',
      files: { img: 'pi-k3s-test.img', zst: 'pi-k3s-test.img.zst', bmap: 'pi-k3s-test.bmap' },
      installerDir: '/x',
      ubootCmdline: 'root=PARTUUID=9a834837-02 rootfstype=ext4 rootwait fsck.repair=yes net.ifnames=0 cgroup_memory=1 cgroup_enable=memory console=ttyAMA0,115200',
    });
    const node = fakeNode({ name: 'worker-node-0017' });
    const pxe = renderPxelinux(node, img, { httpBase: 'http://192.168.100.200:8080', installToken: () => 'f'.repeat(64) });
    const append = /append (.*)/.exec(pxe)![1]!;
    expect(append.length).toBeLessThanOrEqual(UBOOT_APPEND_MAX);
    expect(append).toContain('console=ttyAMA0,115200');
    expect(append).not.toContain('cgroup');
  });
});
