import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadTemplates } from '../../src/serve/cloudinit.js';
import { buildHttp } from '../../src/serve/http/app.js';
import type { ImageInfo } from '../../src/serve/images.js';
import { ServeLookup } from '../../src/serve/lookup.js';
import { ServeMetrics } from '../../src/serve/metrics.js';
import { selfHealBlocked } from '../../src/serve/nodes/model.js';
import { nodeInputSchema } from '../../src/serve/nodes/model.js';
import { type DiscoveryResult, type NodeRegistry, RegistryError, type RegistryOptions } from '../../src/serve/nodes/registry.js';
import { AGENT_LIVE_MS, listAgents, registerAgent, touchAgent } from '../../src/serve/nodes/store/agents.js';
import type { SqlStore } from '../../src/serve/nodes/store/sql.js';
import { syncNodesFile } from '../../src/serve/nodes/yaml.js';
import { decideDhcp } from '../../src/serve/plan/dhcp.js';
import { renderBootFile, type RenderContext } from '../../src/serve/plan/bootfiles.js';
import { planTftp } from '../../src/serve/plan/tftp.js';
import { fakeImage } from '../helpers/fakes.js';
import { must } from '../helpers/must.js';
import { tempDir } from '../helpers/tmp.js';

// The node registry's behaviour, written once and run on every store: the unit project runs it on
// SQLite (test/unit/serve/registry.test.ts), the integration project on a real PostgreSQL
// (test/integration/store/registry-postgres.test.ts). What only one engine has (SQLite's old
// database files and pragmas, PostgreSQL's migrations) is tested beside its backend, not here.

/** One store under test: each `open` is a registry on that same store (so a test can reopen it). */
export interface RegistryStore {
  open(opts?: RegistryOptions): Promise<NodeRegistry>;
  /** The store itself, for what runs on it beside the registry (the serving agents' table). */
  sql(): Promise<SqlStore>;
}

/** Makes a new, empty store for one test: tests never see each other's nodes or events. */
export type NewRegistryStore = () => Promise<RegistryStore>;

/** 90 days of a registry's life on pi-01 (state changes, activity every day) and one placeholder. */
export async function writeHistory(r: NodeRegistry, clock: { t: number }): Promise<void> {
  await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
  await r.recordDiscovered('dc:a6:32:ff:00:01', undefined, null);
  for (let day = 0; day < 90; day++) {
    clock.t += 86_400_000;
    await r.activity('pi-01', 'dhcp-seen', { day }, {});
    await r.activity('pi-01', 'file-fetched', { day }, { key: 'start4.elf' });
    await r.record('pi-01', 'seed-fetched', { day });
    if (day % 30 === 0) {
      await r.record('pi-01', 'install-started');
      await r.record('pi-01', 'installed');
      await r.record('pi-01', 'first-boot');
      await r.record('pi-01', 'k3s-joined');
      await r.reprovision('pi-01');
    }
  }
  await r.selfHeal('pi-01', 'test');
  await r.park('pi-01', 'test');
}

const input = (o: Record<string, unknown>) => nodeInputSchema.parse({ name: 'pi-01', serial: '1234ABCD', ...o });
const types = async (r: NodeRegistry, node: string): Promise<string[]> => (await r.events({ node, limit: 1000 })).map((e) => e.type);
/** The RegistryError code the change was refused with; undefined when it went through. */
const code = async (change: Promise<unknown>): Promise<string | undefined> => {
  try {
    await change;
  } catch (e) {
    if (e instanceof RegistryError) return e.code;
    throw e;
  }
  return undefined;
};
const pxe = { mac: 'dc:a6:32:01:02:03', serial: '1234abcd', fourcc: 'RPi4', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const base = { name: 'pi-01', mac: 'dc:a6:32:01:02:03' };

export function registrySuite(name: string, newStoreOf: NewRegistryStore): void {
  /** A new store whose registries are closed when the test ends (a PostgreSQL pool left open keeps the file from ending). */
  const newStore = async (): Promise<RegistryStore> => {
    const s = await newStoreOf();
    return {
      open: async (opts) => {
        const r = await s.open(opts);
        onTestFinished(() => r.close());
        return r;
      },
      sql: async () => {
        const q = await s.sql();
        onTestFinished(() => q.close());
        return q;
      },
    };
  };
  const registry = async (opts: RegistryOptions = {}): Promise<NodeRegistry> => (await newStore()).open(opts);
  /** A registry with a hand-driven clock. */
  const open = async (opts: RegistryOptions = {}): Promise<{ r: NodeRegistry; store: RegistryStore; clock: { t: number } }> => {
    const clock = { t: Date.parse('2025-01-01T00:00:00Z') };
    const store = await newStore();
    return { r: await store.open({ now: () => new Date(clock.t), ...opts }), store, clock };
  };
  const history = async (opts: RegistryOptions = {}) => {
    const o = await open(opts);
    await writeHistory(o.r, o.clock);
    return o;
  };

  describe(`registry on ${name}`, () => {
    describe('NodeRegistry', () => {
      it('creates nodes with install plan, normalised identity and an event', async () => {
        const r = await registry();
        const n = await r.upsert(input({ mac: 'DC-A6-32-01-02-03', role: 'server', clusterInit: true }));
        expect(n).toMatchObject({ serial: '1234abcd', mac: 'dc:a6:32:01:02:03', plan: 'install', state: 'registered' });
        expect((await r.byPrefix('dc-a6-32-01-02-03'))?.name).toBe('pi-01');
        expect((await r.byPrefix('1234abcd'))?.name).toBe('pi-01');
        expect((await r.events({ node: 'pi-01' })).map((e) => e.type)).toEqual(['registered']);
        // a one-use install token for the installer, and no credential until it enrolls
        expect(await r.installTokenFor('pi-01')).toMatch(/^[0-9a-f]{64}$/);
        expect(await r.hasCredential('pi-01', '')).toBe(false);
      });

      it('refuses a serial or MAC already taken, leaving state unchanged', async () => {
        const r = await registry();
        await r.upsert(input({}));
        await expect(r.upsert(input({ name: 'pi-02' }))).rejects.toThrow(RegistryError);
        expect((await r.list()).map((n) => n.name)).toEqual(['pi-01']);
      });

      it('walks the install lifecycle through events and stops reinstalling once installed', async () => {
        const r = await registry();
        await r.upsert(input({}));
        await r.record('pi-01', 'install-started');
        expect((await r.get('pi-01'))?.state).toBe('installing');
        await r.record('pi-01', 'installed');
        expect(await r.get('pi-01')).toMatchObject({ state: 'installed', plan: 'local' });
        await r.record('pi-01', 'first-boot');
        await r.record('pi-01', 'k3s-joined');
        expect((await r.get('pi-01'))?.state).toBe('joined');
        await r.reprovision('pi-01');
        expect(await r.get('pi-01')).toMatchObject({ plan: 'install', state: 'registered' });
      });

      it('records a discovered Pi once and lets registration take it over', async () => {
        const r = await registry();
        await r.recordDiscovered('dc:a6:32:09:09:09', 'cafe0001', '10.0.0.5');
        await r.recordDiscovered('dc:a6:32:09:09:09', 'cafe0001', '10.0.0.5');
        expect(await r.list()).toHaveLength(1);
        expect(await r.get('pi-cafe0001')).toMatchObject({ plan: 'discovered', state: 'discovered' });
        await r.upsert(nodeInputSchema.parse({ name: 'pi-07', serial: 'cafe0001' }));
        expect((await r.list()).map((n) => n.name)).toEqual(['pi-07']);
      });

      it('keeps the event log append-only', async () => {
        const r = await registry();
        await r.upsert(input({}));
        await r.remove('pi-01');
        expect(await r.get('pi-01')).toBeUndefined();
        expect((await r.events({ node: 'pi-01' })).map((e) => e.type)).toEqual(['registered', 'removed']);
      });
    });

    describe('transactions', () => {
      it('batch() applies all of its changes or, when one fails, none of them', async () => {
        const r = await registry();
        await r.upsert(input({}));
        const before = await r.lastEventId();
        await expect(
          r.batch(async (tx) => {
            await tx.record('pi-01', 'install-started');
            await tx.upsert(input({ name: 'pi-02' }));
          }),
        ).rejects.toThrow(/serial 1234abcd already belongs to node pi-01/);
        expect(await r.mustGet('pi-01')).toMatchObject({ state: 'registered' });
        expect(await r.lastEventId()).toBe(before);
        // nothing is left held: the next change goes through
        expect((await r.record('pi-01', 'install-started')).type).toBe('install-started');
        await r.close();
      });

      it('keeps concurrent changes apart: one placeholder for a Pi sighted by many requests at once', async () => {
        const r = await registry();
        const results = await Promise.all(Array.from({ length: 20 }, () => r.recordDiscovered('dc:a6:32:09:09:09', 'cafe0001', null)));
        expect(results.filter((x) => 'created' in x && x.created)).toHaveLength(1);
        expect((await r.list()).map((n) => n.name)).toEqual(['pi-cafe0001']);
        expect((await r.events({ node: 'pi-cafe0001' })).map((e) => e.type)).toEqual(['discovered']);
        await r.close();
      });

      it('writes the activity still being aggregated when it closes', async () => {
        const store = await newStore();
        const r = await store.open({ activityWindowMs: 3_600_000 });
        await r.upsert(input({}));
        expect(await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:01:02:03' })).toBe('written');
        expect(await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:01:02:03' })).toBe('folded');
        await r.close();
        // closing twice is harmless (service shutdown paths may both close it)
        await r.close();
        const again = await store.open();
        expect((await again.events({ node: 'pi-01' })).map((e) => [e.type, e.data.count])).toEqual([
          ['registered', undefined],
          ['dhcp-seen', 1],
          ['dhcp-seen', 1],
        ]);
        await again.close();
      });
    });

    describe('event log reads', () => {
      it('pages forward with after=<id>: the events after it, oldest first, with a cursor to the next page', async () => {
        const r = await registry();
        await r.upsert(input({}));
        for (let i = 0; i < 24; i++) await r.record('pi-01', 'install-progress', { progress: i });
        const all = await r.events({ limit: 1000 });
        expect(all).toHaveLength(25);
        const seen: number[] = [];
        let after = 0;
        let pages = 0;
        for (;;) {
          const page = await r.eventPage({ afterId: after, limit: 10 });
          pages++;
          seen.push(...page.events.map((e) => e.id));
          expect(page.next).toBe(page.events.at(-1)?.id ?? after);
          after = page.next;
          if (!page.more) break;
        }
        expect(pages).toBe(3);
        expect(seen).toEqual(all.map((e) => e.id));
        // caught up: nothing more, and the cursor stays where it was so the client can poll with it
        expect(await r.eventPage({ afterId: after, limit: 10 })).toEqual({ events: [], next: after, more: false });
        // after=N on the plain read means the same: the 10 events right after N, not the newest 10
        const first = must(all[0], 'the first event').id;
        expect((await r.events({ afterId: first, limit: 10 })).map((e) => e.id)).toEqual(all.slice(1, 11).map((e) => e.id));
      });

      it('without after, keeps the newest events, oldest first (recent history)', async () => {
        const r = await registry();
        await r.upsert(input({}));
        for (let i = 0; i < 30; i++) await r.record('pi-01', 'install-progress', { progress: i });
        const recent = await r.events({ node: 'pi-01', limit: 5 });
        expect(recent.map((e) => e.data.progress)).toEqual([25, 26, 27, 28, 29]);
        expect((await r.eventPage({ limit: 5 })).events.map((e) => e.data.progress)).toEqual([25, 26, 27, 28, 29]);
      });
    });

    describe('nodes.yaml', () => {
      it('wins over the database for what it declares, all or nothing', async () => {
        const r = await registry();
        await r.upsert(input({ role: 'agent' }));
        const d = tempDir('nodes-yaml');
        const f = join(d, 'nodes.yaml');
        writeFileSync(f, 'nodes:\n  - {name: pi-01, serial: 1234abcd, role: server}\n');
        await syncNodesFile(r, f);
        expect(await r.get('pi-01')).toMatchObject({ role: 'server', source: 'yaml', plan: 'install' });
        await expect(r.upsert(input({ role: 'agent' }))).rejects.toThrow(/nodes.yaml/);
        // second entry clashes with the first's serial: nothing of the file is applied
        writeFileSync(f, 'nodes:\n  - {name: pi-01, serial: 1234abcd, role: agent}\n  - {name: pi-02, serial: 1234abcd}\n');
        await expect(syncNodesFile(r, f)).rejects.toThrow(/nodes\[1\] \(pi-02\): serial: 1234abcd is also the serial of nodes\[0\] \(pi-01\)/);
        expect((await r.get('pi-01'))?.role).toBe('server');
      });
    });

    describe('identity learning', () => {
      it('fills a missing serial or MAC from DHCP, never one another node holds', async () => {
        const r = await registry();
        await r.upsert(nodeInputSchema.parse({ name: 'by-mac', mac: 'dc:a6:32:00:00:01' }));
        await r.upsert(nodeInputSchema.parse({ name: 'by-serial', serial: 'cafe0002' }));
        expect(await r.learnIdentity('by-mac', 'dc:a6:32:00:00:01', 'cafe0001')).toBe(true);
        expect((await r.byPrefix('cafe0001'))?.name).toBe('by-mac');
        // the serial cafe0002 is taken: only the MAC is learned
        expect(await r.learnIdentity('by-serial', 'dc:a6:32:00:00:02', 'cafe0002')).toBe(true);
        expect((await r.byPrefix('dc-a6-32-00-00-02'))?.name).toBe('by-serial');
        expect(await r.learnIdentity('by-mac', 'dc:a6:32:00:00:01', 'cafe0002')).toBe(false);
        expect((await r.get('by-mac'))?.serial).toBe('cafe0001');
      });
    });

    describe('event volume from unauthenticated traffic', () => {
      it('writes at most one dhcp-seen per node per window, and the counts add up', async () => {
        const { r, clock } = await open({ activityWindowMs: 60_000 });
        await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
        const results: string[] = [];
        for (let i = 0; i < 1000; i++) {
          clock.t += 10;
          results.push(await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:00:00:01' }, { source: `02:00:00:00:${String(i % 50).padStart(2, '0')}:00` }));
        }
        expect(results.filter((x) => x === 'written')).toHaveLength(1);
        clock.t += 60_000;
        expect(await r.flushActivity()).toBe(1);
        const seen = (await r.events({ node: 'pi-01' })).filter((e) => e.type === 'dhcp-seen');
        expect(seen.map((e) => e.data.count)).toEqual([1, 999]);
        await r.close();
      });

      it('refreshes last_seen at most every 10 s (a flood of requests naming a node is not a write each), and binds no address', async () => {
        const { r, clock } = await open();
        await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
        await r.seen('pi-01');
        const first = (await r.mustGet('pi-01')).lastSeen;
        expect(first).not.toBeNull();
        clock.t += 5_000;
        await r.seen('pi-01');
        expect(await r.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: first });
        clock.t += 5_001;
        await r.seen('pi-01');
        expect(await r.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: new Date(clock.t).toISOString() });
        await r.close();
      });

      it('writes what is still aggregating when closed', async () => {
        const { r, store } = await open();
        await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
        for (let i = 0; i < 5; i++) await r.activity('pi-01', 'file-fetched', { path: 'start4.elf' }, { key: 'start4.elf' });
        await r.close();
        const again = await store.open();
        expect((await again.events({ node: 'pi-01' })).filter((e) => e.type === 'file-fetched').map((e) => e.data.count)).toEqual([1, 4]);
        await again.close();
      });

      it('creates a bounded number of discovered nodes at a bounded rate, refusing the rest', async () => {
        const { r, clock } = await open({ discovery: { max: 5, burst: 3, perMinute: 2 } });
        const mac = (i: number) => `dc:a6:32:ff:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`;
        const first: DiscoveryResult[] = [];
        for (let i = 0; i < 10; i++) first.push(await r.recordDiscovered(mac(i), undefined, null));
        expect(first.map((x) => ('refused' in x ? x.refused : 'ok'))).toEqual(['ok', 'ok', 'ok', ...Array(7).fill('rate')]);
        // a known one is only refreshed, never refused
        expect(await r.recordDiscovered(mac(0), undefined, null)).toMatchObject({ created: false });
        clock.t += 30_000;
        expect(await r.recordDiscovered(mac(20), undefined, null)).toMatchObject({ created: true });
        clock.t += 600_000;
        const later: DiscoveryResult[] = [];
        for (let i = 0; i < 5; i++) later.push(await r.recordDiscovered(mac(30 + i), undefined, null));
        expect(later.map((x) => ('refused' in x ? x.refused : 'ok'))).toEqual(['ok', 'limit', 'limit', 'limit', 'limit']);
        expect((await r.list()).filter((n) => n.plan === 'discovered')).toHaveLength(5);
        expect((await r.events({ limit: 1000 })).filter((e) => e.type === 'discovered')).toHaveLength(5);
        await r.close();
      });
    });

    describe('event retention', () => {
      const stateChanges = async (r: NodeRegistry) =>
        (await r.events({ limit: 1000 })).filter((e) => !['dhcp-seen', 'file-fetched', 'seed-fetched', 'discovered'].includes(e.type));

      it('prunes activity older than the duration and keeps every state change', async () => {
        const { r } = await history();
        const kept = await stateChanges(r);
        expect(kept.map((e) => e.type)).toContain('registered');
        expect(kept).toHaveLength(1 + 3 * 5 + 2);
        const before = (await r.events({ limit: 1000 })).length;
        // day d is stamped d+1 days in, the clock ends at 90 days: days 0..58 are older than 30 days
        expect(await r.pruneEvents({ kind: 'age', ms: 30 * 86_400_000 })).toBe(59 * 3 + 1);
        expect(await r.events({ limit: 1000 })).toHaveLength(before - 59 * 3 - 1);
        expect(await stateChanges(r)).toEqual(kept);
        const activity = (await r.events({ limit: 1000 })).filter((e) => e.type === 'dhcp-seen');
        expect(activity.map((e) => e.data.day)).toEqual(Array.from({ length: 31 }, (_, i) => 59 + i));
        await r.close();
      });

      it('keeps the newest N activity events with a count, and nothing is pruned with forever', async () => {
        const { r } = await history();
        const kept = await stateChanges(r);
        expect(await r.pruneEvents({ kind: 'forever' })).toBe(0);
        await r.pruneEvents({ kind: 'count', events: 10 });
        const all = await r.events({ limit: 1000 });
        expect(all.length).toBe(kept.length + 10);
        expect(await stateChanges(r)).toEqual(kept);
        expect(await r.pruneEvents({ kind: 'count', events: 10 })).toBe(0);
        await r.close();
      });
    });

    describe('failure counting', () => {
      it('parks a node after three failed installs in a row and unparks it on reprovision', async () => {
        const r = await registry();
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
        const r = await registry();
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
        const r = await registry();
        await r.upsert({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', role: 'agent', sshKeys: [], clusterInit: false, plan: 'local' });
        expect((await r.selfHeal('pi-01', 'disk did not boot')).plan).toBe('install');
        await r.record('pi-01', 'installed', { sha256: 'a'.repeat(64) });
        expect((await r.mustGet('pi-01')).plan).toBe('local');
        expect((await r.events({ node: 'pi-01' })).find((e) => e.type === 'self-heal')?.data).toEqual({ reason: 'disk did not boot' });
        await r.close();
      });
      it('keeps the per-node self-heal setting', async () => {
        const r = await registry();
        expect((await r.upsert({ name: 'pi-02', mac: 'dc:a6:32:01:02:04', role: 'agent', sshKeys: [], clusterInit: false, selfHeal: false })).selfHeal).toBe(
          false,
        );
        expect((await r.upsert({ name: 'pi-02', role: 'agent', sshKeys: [], clusterInit: false })).selfHeal).toBe(false);
        await r.close();
      });
    });

    describe('disk in the registry', () => {
      it('round-trips, keeps it on unrelated reads, clears it when re-added without one, and logs the change', async () => {
        const r = await registry();
        expect((await r.upsert(nodeInputSchema.parse({ ...base, disk: '/dev/nvme0n1' }))).disk).toBe('nvme0n1');
        expect((await r.byMac(base.mac))?.disk).toBe('nvme0n1');
        expect((await r.list())[0]?.disk).toBe('nvme0n1');
        await r.selfHeal('pi-01', 'test');
        await r.record('pi-01', 'installed');
        expect((await r.mustGet('pi-01')).disk).toBe('nvme0n1');
        expect((await r.upsert(nodeInputSchema.parse({ ...base, disk: 'sda' }))).disk).toBe('sda');
        expect((await r.upsert(nodeInputSchema.parse(base))).disk).toBeNull();
        expect((await r.events({ node: 'pi-01' })).map((e) => e.type)).toEqual(['registered', 'self-heal', 'installed', 'updated', 'updated']);
        await r.close();
      });
    });

    describe('disk in nodes.yaml', () => {
      it('updates the registry when the file changes the disk, and clears it when the file drops it', async () => {
        const d = tempDir('install-disk');
        const r = await registry();
        const f = join(d, 'nodes.yaml');
        writeFileSync(f, 'nodes:\n  - {name: pi-01, serial: 1234abcd, plan: local}\n');
        await syncNodesFile(r, f);
        expect((await r.mustGet('pi-01')).disk).toBeNull();
        writeFileSync(f, 'nodes:\n  - {name: pi-01, serial: 1234abcd, disk: /dev/sda}\n');
        await syncNodesFile(r, f);
        expect(await r.mustGet('pi-01')).toMatchObject({ disk: 'sda', plan: 'local', source: 'yaml' });
        expect((await r.events({ node: 'pi-01' })).at(-1)).toMatchObject({ type: 'updated', data: { source: 'yaml' } });
        writeFileSync(f, 'nodes:\n  - {name: pi-01, serial: 1234abcd}\n');
        await syncNodesFile(r, f);
        expect((await r.mustGet('pi-01')).disk).toBeNull();
        await r.close();
      });
    });

    describe('disk through the API', () => {
      it("POST /api/nodes takes it, refuses a bad one by name, and the node's cmdline.txt carries it", async () => {
        const d = tempDir('install-disk');
        const registry = await (await newStore()).open();
        const img: ImageInfo = fakeImage({ installerDir: join(d, 'installer') });
        const lookup = new ServeLookup(registry, new Map([[img.name, img]]));
        const ctx: RenderContext = { httpBase: 'http://10.0.0.1:8080' };
        const app = await buildHttp({
          registry,
          lookup,
          metrics: new ServeMetrics(),
          imagesDir: d,
          apiToken: 'a'.repeat(64),
          k3sToken: 'K10fixture',
          templates: await loadTemplates(join(process.cwd(), 'cloud-init')),
          ctx,
        });
        try {
          const post = (body: Record<string, unknown>) =>
            app.inject({ method: 'POST', url: '/api/nodes', headers: { authorization: `Bearer ${'a'.repeat(64)}` }, payload: body });
          const ok = await post({ ...base, disk: '/dev/sda' });
          expect(ok.statusCode).toBe(201);
          expect(ok.json<{ node: { disk: string } }>().node.disk).toBe('sda');
          const bad = await post({ ...base, disk: 'sda init=/bin/sh' });
          expect(bad.statusCode).toBe(400);
          expect(bad.json<{ error: string }>().error).toMatch(/^disk: must be a block device name/);
          expect((await registry.mustGet('pi-01')).disk).toBe('sda');
          const got = await app.inject({ method: 'GET', url: '/api/nodes/pi-01', headers: { authorization: `Bearer ${'a'.repeat(64)}` } });
          expect(got.json<{ node: { disk: string } }>().node.disk).toBe('sda');
          const plan = await planTftp('dc-a6-32-01-02-03/cmdline.txt', '10.0.0.9', lookup);
          expect(plan.kind === 'render' && renderBootFile(plan.file, plan.node, plan.image, ctx).toString()).toMatch(/ kiln\.disk=sda\s/);
        } finally {
          await app.close();
          await registry.close();
        }
      });
    });

    describe('per-node settings', () => {
      it('changes only the given fields, records which in one updated event, and writes nothing when nothing changed', async () => {
        const r = await registry();
        await r.upsert(input({ disk: 'mmcblk0' }));
        const n = await r.updateSettings('pi-01', { configTxt: ['dtoverlay=disable-wifi'], selfHeal: true });
        expect(n).toMatchObject({ disk: 'mmcblk0', selfHeal: true, configTxt: ['dtoverlay=disable-wifi'] });
        const last = (await r.events({ node: 'pi-01', limit: 1 }))[0];
        expect(last).toMatchObject({ type: 'updated', data: { source: 'api', changed: { selfHeal: true, configTxt: ['dtoverlay=disable-wifi'] } } });
        const before = (await types(r, 'pi-01')).length;
        await r.updateSettings('pi-01', { configTxt: ['dtoverlay=disable-wifi'], selfHeal: true, disk: 'mmcblk0' });
        expect((await types(r, 'pi-01')).length).toBe(before);
        // null clears the disk; an empty list clears the lines
        expect(await r.updateSettings('pi-01', { disk: null, configTxt: [] })).toMatchObject({ disk: null, configTxt: [] });
        expect((await r.events({ node: 'pi-01', limit: 1 }))[0]?.data).toEqual({ source: 'api', changed: { disk: null, configTxt: [] } });
        // a re-add through upsert keeps the lines (they are not part of its input)
        await r.updateSettings('pi-01', { configTxt: ['gpu_mem=16'] });
        expect((await r.upsert(input({}))).configTxt).toEqual(['gpu_mem=16']);
      });

      it('refuses nodes from nodes.yaml (change the file) and discovered placeholders (approve first)', async () => {
        const dir = tempDir('node-actions');
        const r = await registry();
        writeFileSync(join(dir, 'nodes.yaml'), 'nodes:\n  - {name: pi-07, serial: "77777777"}\n');
        await syncNodesFile(r, join(dir, 'nodes.yaml'));
        expect(await code(r.updateSettings('pi-07', { selfHeal: true }))).toBe('forbidden');
        await expect(r.updateSettings('pi-07', { selfHeal: true })).rejects.toThrow(/declared in nodes.yaml; change it there/);
        await r.recordDiscovered('dc:a6:32:00:00:09', undefined, null);
        expect(await code(r.updateSettings('pi-dca632000009', { disk: 'sda' }))).toBe('conflict');
        expect(await code(r.updateSettings('nope', {}))).toBe('not-found');
      });
    });

    describe('unpark', () => {
      it('answers the node again, records unparked with the old reason, and starts the failure count again', async () => {
        const r = await registry();
        await r.upsert(input({}));
        expect(await code(r.unpark('pi-01'))).toBe('conflict');
        for (let i = 0; i < 3; i++) await r.record('pi-01', 'install-failed', { message: `try ${i}` });
        expect(await r.mustGet('pi-01')).toMatchObject({ parked: '3 failed installs in a row; last: try 2', state: 'failed' });
        const n = await r.unpark('pi-01');
        expect(n).toMatchObject({ parked: null, state: 'registered', plan: 'install' });
        expect((await r.events({ node: 'pi-01', limit: 1 }))[0]).toMatchObject({
          type: 'unparked',
          data: { reason: '3 failed installs in a row; last: try 2' },
        });
        // one more failure does not park it again at once: the streak starts over
        await r.record('pi-01', 'install-failed', { message: 'again' });
        expect((await r.mustGet('pi-01')).parked).toBeNull();
        await r.record('pi-01', 'install-failed', {});
        await r.record('pi-01', 'install-failed', {});
        expect((await r.mustGet('pi-01')).parked).toMatch(/^3 failed installs/);
      });
    });

    describe('approve a discovered Pi', () => {
      it('registers it under the new name with the placeholder serial, MAC and board; the placeholder goes with a removed event', async () => {
        const r = await registry();
        const d = await r.recordDiscovered('dc:a6:32:00:00:0a', 'abcd0001', '10.0.0.9', { model: 'pi5', boardRevision: 'c04170' });
        expect('node' in d && d.node.name).toBe('pi-abcd0001');
        const n = await r.approve('pi-abcd0001', { name: 'rack-01', role: 'server', sshKeys: [], clusterInit: false });
        expect(n).toMatchObject({
          name: 'rack-01',
          serial: 'abcd0001',
          mac: 'dc:a6:32:00:00:0a',
          role: 'server',
          plan: 'install',
          state: 'registered',
          model: 'pi5',
          boardRevision: 'c04170',
        });
        expect(await r.get('pi-abcd0001')).toBeUndefined();
        expect((await r.events({ node: 'pi-abcd0001', limit: 1 }))[0]).toMatchObject({ type: 'removed', data: { reason: 'approved', as: 'rack-01' } });
        expect(await types(r, 'rack-01')).toEqual(['registered']);
        expect(await r.installTokenFor('rack-01')).toMatch(/^[0-9a-f]{64}$/);
      });

      it('under the same name, replaces the placeholder with a registered node', async () => {
        const r = await registry();
        await r.recordDiscovered('dc:a6:32:00:00:0b', 'abcd0002', null, { model: 'pi4', boardRevision: 'd03114' });
        const n = await r.approve('pi-abcd0002', { name: 'pi-abcd0002', role: 'agent', sshKeys: [], clusterInit: false });
        expect(n).toMatchObject({ name: 'pi-abcd0002', plan: 'install', state: 'registered', model: 'pi4', serial: 'abcd0002' });
        expect(await types(r, 'pi-abcd0002')).toEqual(['discovered', 'registered']);
        expect(must(n.provisionId, 'provision id')).toBeGreaterThan(0);
      });

      it('refuses a node that is not a placeholder, and a name another node has', async () => {
        const r = await registry();
        await r.upsert(input({}));
        await r.recordDiscovered('dc:a6:32:00:00:0c', 'abcd0003', null);
        expect(await code(r.approve('pi-01', { name: 'pi-02', role: 'agent', sshKeys: [], clusterInit: false }))).toBe('conflict');
        expect(await code(r.approve('pi-abcd0003', { name: 'pi-01', role: 'agent', sshKeys: [], clusterInit: false }))).toBe('conflict');
        // nothing changed: pi-01 keeps its serial, the placeholder is still there
        expect((await r.mustGet('pi-01')).serial).toBe('1234abcd');
        expect((await r.mustGet('pi-abcd0003')).plan).toBe('discovered');
        expect(await code(r.approve('nope', { name: 'x', role: 'agent', sshKeys: [], clusterInit: false }))).toBe('not-found');
      });
    });

    describe('latest install progress', () => {
      it('is the newest report of each node that is installing, and none from before its last install-started', async () => {
        const r = await registry();
        await r.upsert(input({}));
        await r.upsert(input({ name: 'pi-02', serial: '22222222' }));
        await r.upsert(input({ name: 'pi-03', serial: '33333333' }));
        await r.record('pi-01', 'install-progress', { progress: 10 });
        await r.record('pi-02', 'install-progress', { bytes: 5, total: 10 });
        await r.record('pi-01', 'install-progress', { progress: 40 });
        for (let i = 0; i < 50; i++) await r.record('pi-01', 'k3s-started', { i });
        // pi-03 reported progress, then started a new install that has not reported yet
        await r.record('pi-03', 'install-progress', { progress: 90 });
        await r.record('pi-03', 'install-started', {});
        const rows = await r.latestInstallProgress();
        expect(Object.fromEntries(rows.map((x) => [x.node, x.data]))).toEqual({ 'pi-01': { progress: 40 }, 'pi-02': { bytes: 5, total: 10 } });
        // not installing any more: no progress
        await r.record('pi-02', 'installed', {});
        expect((await r.latestInstallProgress()).map((x) => x.node)).toEqual(['pi-01']);
      });
    });

    describe('lookups and counts', () => {
      it('finds a node by address (the last seen there, one never seen last), by MAC then serial, and counts nodes by state', async () => {
        const { r, store, clock } = await open();
        await r.upsert(input({ mac: 'dc:a6:32:01:02:03' }));
        await r.upsert(input({ name: 'pi-02', serial: '22222222' }));
        await r.recordDiscovered('dc:a6:32:09:09:09', 'cafe0001', null);
        await r.bindAddress('pi-01', '10.0.0.9');
        clock.t += 1000;
        await r.leased('pi-02', '10.0.0.9');
        expect((await r.byIp('10.0.0.9'))?.name).toBe('pi-02');
        clock.t += 1000;
        await r.bindAddress('pi-01', '10.0.0.9');
        // a row holding the address but never seen (written by hand, or by an older kiln) sorts last:
        // NULL comes first in a descending PostgreSQL sort unless told otherwise
        const raw = await store.sql();
        await raw.run('UPDATE nodes SET ip = ?, last_seen = NULL WHERE name = ?', ['10.0.0.9', 'pi-cafe0001']);
        expect(await r.byIp('10.0.0.9')).toMatchObject({ name: 'pi-01', lastSeen: new Date(clock.t).toISOString() });
        expect(await r.byIp('10.0.0.10')).toBeUndefined();
        expect((await r.find('dc:a6:32:01:02:03', '22222222'))?.name).toBe('pi-01');
        expect((await r.find('dc:a6:32:00:00:00', '22222222'))?.name).toBe('pi-02');
        expect(await r.find('dc:a6:32:00:00:00')).toBeUndefined();
        expect(await r.count()).toBe(3);
        expect(await r.countByState()).toEqual({ registered: 2, discovered: 1 });
        // the address kiln leased is the only one pi-02 may enrol from
        const token = must(await r.installTokenFor('pi-02'), 'the install token of pi-02');
        expect((await r.enroll('pi-02', { token, previous: undefined, ip: '10.0.0.8' })).decision).toMatchObject({ ok: false, why: 'wrong-address' });
        expect((await r.enroll('pi-02', { token, previous: undefined, ip: '10.0.0.9' })).decision).toEqual({ ok: true });
      });
    });

    describe('serving agents', () => {
      it('names the agent on every event its registry writes (state changes and activity), none from a registry without one', async () => {
        const store = await newStore();
        const rack1 = await store.open({ agent: 'rack1' });
        await rack1.upsert(input({}));
        await rack1.record('pi-01', 'install-started');
        expect(await rack1.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:01:02:03' })).toBe('written');
        await rack1.close();
        const cli = await store.open();
        await cli.reprovision('pi-01');
        expect((await cli.events({ node: 'pi-01' })).map((e) => [e.type, e.agent])).toEqual([
          ['registered', 'rack1'],
          ['install-started', 'rack1'],
          ['dhcp-seen', 'rack1'],
          ['reprovision', null],
        ]);
      });

      it('registers agents, refuses one serving other bytes under a name a live agent serves, and forgets agents whose heartbeat stopped', async () => {
        const q = await (await newStore()).sql();
        const t0 = Date.parse('2025-01-01T00:00:00.000Z');
        const img = (sha: string) => [{ name: 'fixture', sha256: sha.repeat(64) }];
        await registerAgent(q, { name: 'rack1', network: 'eth1 10.0.1.1', images: img('a') }, new Date(t0));
        await registerAgent(q, { name: 'rack2', network: 'eth1 10.0.2.1', images: img('a') }, new Date(t0 + 1000));
        await expect(registerAgent(q, { name: 'rack3', network: 'eth1 10.0.3.1', images: img('b') }, new Date(t0 + 2000))).rejects.toThrow(
          /^image fixture here is sha256 bbbbbbbbbbbbbbbb…, but agent rack1 \(eth1 10\.0\.1\.1\) serves aaaaaaaaaaaaaaaa… under the same name$/,
        );
        expect((await listAgents(q)).map((a) => a.name)).toEqual(['rack1', 'rack2']);
        // rack2 keeps its heartbeat, rack1 stops: rack3 now clashes with rack2 only
        await touchAgent(q, 'rack2', new Date(t0 + AGENT_LIVE_MS));
        await expect(registerAgent(q, { name: 'rack3', network: 'eth1 10.0.3.1', images: img('b') }, new Date(t0 + AGENT_LIVE_MS + 1000))).rejects.toThrow(
          /agent rack2 /,
        );
        // rack2 restarts with the new build: the same row, started again
        await registerAgent(q, { name: 'rack2', network: 'eth2 10.0.2.1', images: img('b') }, new Date(t0 + AGENT_LIVE_MS + 2000));
        await registerAgent(q, { name: 'rack3', network: 'eth1 10.0.3.1', images: img('b') }, new Date(t0 + AGENT_LIVE_MS + 3000));
        expect(await listAgents(q)).toEqual([
          { name: 'rack1', network: 'eth1 10.0.1.1', images: img('a'), startedAt: new Date(t0).toISOString(), seenAt: new Date(t0).toISOString() },
          {
            name: 'rack2',
            network: 'eth2 10.0.2.1',
            images: img('b'),
            startedAt: new Date(t0 + AGENT_LIVE_MS + 2000).toISOString(),
            seenAt: new Date(t0 + AGENT_LIVE_MS + 2000).toISOString(),
          },
          {
            name: 'rack3',
            network: 'eth1 10.0.3.1',
            images: img('b'),
            startedAt: new Date(t0 + AGENT_LIVE_MS + 3000).toISOString(),
            seenAt: new Date(t0 + AGENT_LIVE_MS + 3000).toISOString(),
          },
        ]);
      });
    });
  });
}
