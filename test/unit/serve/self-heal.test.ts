import { describe, expect, it } from 'vitest';
import { failedInARow, selfHealBlocked, type EventType } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { decideDhcp } from '../../../src/serve/plan/dhcp.js';
import { fakeImage } from '../../helpers/fakes.js';

const pxe = { mac: 'dc:a6:32:01:02:03', serial: '1234abcd', fourcc: 'RPi4', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const ev = (...types: EventType[]) => types.map((type) => ({ type }));

describe('failure counting', () => {
  it('counts failed installs since the last success or operator action', async () => {
    expect(failedInARow(ev('registered', 'install-failed', 'install-failed'))).toBe(2);
    expect(failedInARow(ev('install-failed', 'installed', 'install-failed'))).toBe(1);
    expect(failedInARow(ev('install-failed', 'install-failed', 'reprovision'))).toBe(0);
    expect(selfHealBlocked(ev('installed', 'dhcp-seen'))).toMatch(/no first boot/);
    expect(selfHealBlocked(ev('installed', 'first-boot', 'dhcp-seen'))).toBeUndefined();
  });
  it('parks a node after three failed installs in a row and unparks it on reprovision', async () => {
    const r = await openSqliteRegistry(':memory:');
    await r.upsert({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', role: 'agent', sshKeys: [], clusterInit: false });
    for (let i = 0; i < 3; i++) await r.record('pi-01', 'install-failed', { message: `disk error ${i}` });
    const n = await r.mustGet('pi-01');
    expect(n.parked).toMatch(/3 failed installs in a row; last: disk error 2/);
    expect(n.state).toBe('failed');
    expect((await r.events({ node: 'pi-01' })).map((e) => e.type)).toContain('parked');
    expect((await r.reprovision('pi-01')).parked).toBeNull();
    await r.close();
  });
  it('reads install milestones by type: 10,000 other events hide neither a failure streak nor an install without first boot', async () => {
    const r = await openSqliteRegistry(':memory:');
    await r.upsert({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', role: 'agent', sshKeys: [], clusterInit: false, selfHeal: true });
    await r.record('pi-01', 'install-failed', { message: 'one' });
    await r.record('pi-01', 'install-failed', { message: 'two' });
    const chatter = (): Promise<void> =>
      r.batch(async (tx) => {
        for (let i = 0; i < 10_000; i++) await tx.record('pi-01', 'seed-fetched', { i });
      });
    await chatter();
    await r.record('pi-01', 'install-failed', { message: 'three' });
    expect((await r.mustGet('pi-01')).parked).toMatch(/^3 failed installs in a row; last: three/);
    await r.reprovision('pi-01');
    await r.record('pi-01', 'installed', { sha256: 'a'.repeat(64) });
    await chatter();
    expect(selfHealBlocked(await r.decisionHistory('pi-01'))).toMatch(/no first boot/);
    const d = decideDhcp(
      { message: 'discover', client: pxe, node: await r.mustGet('pi-01'), image: fakeImage(), history: await r.decisionHistory('pi-01') },
      { mode: 'proxy', discovery: false },
    );
    expect(d).toMatchObject({ answer: 'none', reason: 'parked' });
    // registered by MAC only: the DISCOVER also shows its serial
    expect(d.effects.map((e) => e.kind)).toEqual(['seen', 'learn-identity', 'park']);
    await r.close();
  });
  it('self-heal switches the plan to install and records why; installed switches back', async () => {
    const r = await openSqliteRegistry(':memory:');
    await r.upsert({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', role: 'agent', sshKeys: [], clusterInit: false, plan: 'local' });
    expect((await r.selfHeal('pi-01', 'disk did not boot')).plan).toBe('install');
    await r.record('pi-01', 'installed', { sha256: 'a'.repeat(64) });
    expect((await r.mustGet('pi-01')).plan).toBe('local');
    expect((await r.events({ node: 'pi-01' })).find((e) => e.type === 'self-heal')?.data).toEqual({ reason: 'disk did not boot' });
    await r.close();
  });
  it('keeps the per-node self-heal setting', async () => {
    const r = await openSqliteRegistry(':memory:');
    expect((await r.upsert({ name: 'pi-02', mac: 'dc:a6:32:01:02:04', role: 'agent', sshKeys: [], clusterInit: false, selfHeal: false })).selfHeal).toBe(false);
    expect((await r.upsert({ name: 'pi-02', role: 'agent', sshKeys: [], clusterInit: false })).selfHeal).toBe(false);
    await r.close();
  });
});
