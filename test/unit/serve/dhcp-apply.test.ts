import { join } from 'node:path';
import type { Counter } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DhcpApply } from '../../../src/serve/dhcp/apply.js';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry, type RegistryOptions } from '../../../src/serve/nodes/registry.js';
import { answeredEffects, decideDhcp, type DhcpEffect } from '../../../src/serve/plan/dhcp.js';
import { fakeImage } from '../../helpers/fakes.js';
import { tempDir } from '../../helpers/tmp.js';

// The DHCP effects against a real registry (SQLite in a temp dir): what each writes, in order.

async function setup(opts: RegistryOptions = {}): Promise<{ registry: NodeRegistry; metrics: ServeMetrics; apply: DhcpApply }> {
  const d = tempDir('dhcp-apply');
  const registry = await openSqliteRegistry(join(d, 'kiln.db'), opts);
  const metrics = new ServeMetrics();
  return { registry, metrics, apply: new DhcpApply(registry, metrics) };
}

const MAC = 'dc:a6:32:01:02:03';
const SERIAL = '1234abcd';
const PXE = 'PXEClient:Arch:00000:UNDI:002001';
const add = async (r: NodeRegistry, o: Record<string, unknown> = {}) => await r.upsert(nodeInputSchema.parse({ name: 'pi-01', mac: MAC, ...o }));
const eventsOf = async (r: NodeRegistry) => (await r.events({ node: 'pi-01' })).map((e) => ({ type: e.type, data: e.data }));

async function count(c: Counter<string>, labels: Record<string, string>): Promise<number> {
  const v = (await c.get()).values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

describe('DhcpApply', () => {
  it('records a DISCOVER as dhcp-seen, folding repeats within the window (and counting them)', async () => {
    const { registry, metrics, apply } = await setup();
    await add(registry);
    const seen = { kind: 'seen', node: 'pi-01', mac: MAC, vendorClass: PXE } as const;
    await apply.apply([seen, seen]);
    expect(await eventsOf(registry)).toEqual([
      { type: 'registered', data: { source: 'db' } },
      { type: 'dhcp-seen', data: { mac: MAC, vendorClass: PXE, count: 1 } },
    ]);
    expect(await count(metrics.eventsFolded, { type: 'dhcp-seen' })).toBe(1);
    await registry.close();
  });

  it('records the board a DISCOVER names: on the node (no event of its own) and in dhcp-seen', async () => {
    const { registry, apply } = await setup();
    await add(registry);
    const board = { model: 'pi4', boardRevision: '00c03111' };
    await apply.apply([
      { kind: 'seen', node: 'pi-01', mac: MAC, vendorClass: PXE, model: 'pi4' },
      { kind: 'learn-board', node: 'pi-01', board },
    ]);
    expect(await registry.mustGet('pi-01')).toMatchObject({ model: 'pi4', boardRevision: '00c03111' });
    expect(await eventsOf(registry)).toEqual([
      { type: 'registered', data: { source: 'db' } },
      { type: 'dhcp-seen', data: { mac: MAC, vendorClass: PXE, model: 'pi4', count: 1 } },
    ]);
    expect(await registry.learnBoard('pi-01', board)).toBe(false);
    expect(await registry.learnBoard('pi-01', { model: 'pi5', boardRevision: '00c04170' })).toBe(true);
    expect(await registry.mustGet('pi-01')).toMatchObject({ model: 'pi5', boardRevision: '00c04170' });
    await registry.close();
  });

  it('a node registered with the identity of a discovered Pi takes over its board', async () => {
    const { registry, apply } = await setup();
    await apply.apply([
      {
        kind: 'record-discovered',
        mac: MAC,
        serial: SERIAL,
        board: { model: 'cm4', boardRevision: '00c03140' },
        vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
      },
    ]);
    await add(registry, { serial: SERIAL });
    expect((await registry.list()).map((n) => [n.name, n.plan, n.model, n.boardRevision])).toEqual([['pi-01', 'install', 'cm4', '00c03140']]);
    await registry.close();
  });

  it('learns a serial the node was registered without', async () => {
    const { registry, apply } = await setup();
    await add(registry);
    await apply.apply([{ kind: 'learn-identity', node: 'pi-01', mac: MAC, serial: SERIAL }]);
    expect((await registry.mustGet('pi-01')).serial).toBe(SERIAL);
    expect((await eventsOf(registry)).at(-1)).toEqual({ type: 'updated', data: { learned: { mac: MAC, serial: SERIAL } } });
    await registry.close();
  });

  it('records an unknown Pi as discovered, and counts what the rate limit refuses', async () => {
    const { registry, metrics, apply } = await setup({ discovery: { max: 64, burst: 1, perMinute: 1 } });
    await apply.apply([
      { kind: 'record-discovered', mac: MAC, serial: SERIAL, board: { model: 'pi5', boardRevision: '00d04170' }, vendorClass: null },
      { kind: 'record-discovered', mac: 'dc:a6:32:01:02:04', serial: '1234abce', board: undefined, vendorClass: null },
    ]);
    expect((await registry.list()).map((n) => [n.name, n.plan, n.model, n.boardRevision])).toEqual([[`pi-${SERIAL}`, 'discovered', 'pi5', '00d04170']]);
    expect((await registry.events({ node: `pi-${SERIAL}` })).map((e) => [e.type, e.data])).toEqual([
      ['discovered', { mac: MAC, serial: SERIAL, model: 'pi5', vendorClass: null }],
    ]);
    expect(await count(metrics.discoveryRefused, { reason: 'rate' })).toBe(1);
    await registry.close();
  });

  const WHY = 'netbooted with plan local';
  it.each([
    ['parks a local node', { kind: 'park', node: 'pi-01', reason: WHY }, { parked: WHY, state: 'failed' }, 'parked'],
    ['self-heals a local node: plan install again', { kind: 'self-heal', node: 'pi-01', reason: WHY }, { plan: 'install', state: 'registered' }, 'self-heal'],
  ] as const)('%s, with the reason in its timeline', async (_what, effect: DhcpEffect, node, event) => {
    const { registry, apply } = await setup();
    await add(registry, { plan: 'local', selfHeal: true });
    await apply.apply([effect]);
    expect(await registry.mustGet('pi-01')).toMatchObject(node);
    expect((await eventsOf(registry)).at(-1)).toEqual({ type: event, data: { reason: WHY } });
    await registry.close();
  });

  it('records a full-mode ACK: the address, then dhcp-offered with it', async () => {
    const { registry, apply } = await setup();
    await add(registry);
    await apply.apply(answeredEffects('pi-01', MAC, '10.0.0.7'));
    expect((await registry.mustGet('pi-01')).ip).toBe('10.0.0.7');
    expect((await eventsOf(registry)).at(-1)).toEqual({ type: 'dhcp-offered', data: { mode: 'full', ip: '10.0.0.7', count: 1 } });
    await registry.close();
  });

  it('records a proxy OFFER as dhcp-offered, with no address', async () => {
    const { registry, apply } = await setup();
    await add(registry);
    await apply.apply(answeredEffects('pi-01', MAC));
    expect((await registry.mustGet('pi-01')).ip).toBeNull();
    expect((await eventsOf(registry)).at(-1)).toEqual({ type: 'dhcp-offered', data: { mode: 'proxy', count: 1 } });
    await registry.close();
  });

  it("writes a decision's effects in the decision's order: a local node netbooting is seen, then healed", async () => {
    const { registry, apply } = await setup();
    const node = await add(registry, { plan: 'local', selfHeal: true });
    const d = decideDhcp(
      {
        message: 'discover',
        client: { mac: MAC, serial: SERIAL, fourcc: 'RPi4', vendorClass: PXE },
        node,
        image: fakeImage(),
        history: await registry.decisionHistory('pi-01'),
      },
      { mode: 'proxy', discovery: false },
    );
    await apply.apply(d.effects);
    expect((await eventsOf(registry)).map((e) => e.type)).toEqual(['registered', 'dhcp-seen', 'updated', 'self-heal']);
    expect(await registry.mustGet('pi-01')).toMatchObject({ plan: 'install', serial: SERIAL });
    await registry.close();
  });
});
