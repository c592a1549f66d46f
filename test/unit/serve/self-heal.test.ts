import { describe, expect, it } from 'vitest';
import { failedInARow, selfHealBlocked, type EventType } from '../../../src/serve/nodes/model.js';
import { NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { decideDhcp } from '../../../src/serve/plan/dhcp.js';
import { fakeImage } from '../../helpers/fakes.js';

const pxe = { mac: 'dc:a6:32:01:02:03', serial: '1234abcd', fourcc: 'RPi4', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const ev = (...types: EventType[]) => types.map((type) => ({ type }));

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
    const chatter = (): void =>
      r.batch(() => {
        for (let i = 0; i < 10_000; i++) r.record('pi-01', 'seed-fetched', { i });
      });
    chatter();
    r.record('pi-01', 'install-failed', { message: 'three' });
    expect(r.mustGet('pi-01').parked).toMatch(/^3 failed installs in a row; last: three/);
    r.reprovision('pi-01');
    r.record('pi-01', 'installed', { sha256: 'a'.repeat(64) });
    chatter();
    expect(selfHealBlocked(r.decisionHistory('pi-01'))).toMatch(/no first boot/);
    const d = decideDhcp(
      { message: 'discover', client: pxe, node: r.mustGet('pi-01'), image: fakeImage(), history: r.decisionHistory('pi-01') },
      { mode: 'proxy', discovery: false },
    );
    expect(d).toMatchObject({ answer: 'none', reason: 'parked' });
    // registered by MAC only: the DISCOVER also shows its serial
    expect(d.effects.map((e) => e.kind)).toEqual(['seen', 'learn-identity', 'park']);
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
