import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { NodeRegistry, openSqliteRegistry, RegistryError, type RegistryOptions } from '../../../src/serve/nodes/registry.js';
import { openSqliteStore } from '../../../src/serve/nodes/store/sqlite.js';
import { parseNodesYaml, syncNodesFile } from '../../../src/serve/nodes/yaml.js';
import { must } from '../../helpers/must.js';
import { tempDir } from '../../helpers/tmp.js';

/**
 * The registry under test: the one place that picks its store, so this suite can run against any
 * SqlStore. Tests of SQLite itself (old database files, pragmas) open it by name instead.
 */
async function registry(opts: RegistryOptions = {}): Promise<NodeRegistry> {
  return NodeRegistry.open(await openSqliteStore(join(tempDir('registry'), 'kiln.db')), opts);
}

const input = (o: Record<string, unknown>) => nodeInputSchema.parse({ name: 'pi-01', serial: '1234ABCD', ...o });

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

  it('gives a database made before the board columns its model and board_revision on open', async () => {
    const file = join(tempDir('registry'), 'kiln.db');
    let r = await openSqliteRegistry(file);
    await r.upsert(input({}));
    await r.close();
    const old = new Database(file);
    old.exec('ALTER TABLE nodes DROP COLUMN model; ALTER TABLE nodes DROP COLUMN board_revision;');
    old.close();
    r = await openSqliteRegistry(file);
    expect(await r.mustGet('pi-01')).toMatchObject({ model: null, boardRevision: null });
    expect(await r.learnBoard('pi-01', { model: 'pi4', boardRevision: '00c03111' })).toBe(true);
    expect(await r.mustGet('pi-01')).toMatchObject({ model: 'pi4', boardRevision: '00c03111' });
    await r.close();
  });

  it('syncs every commit to disk (synchronous = FULL), not only at WAL checkpoints', async () => {
    const store = await openSqliteStore(join(tempDir('registry'), 'kiln.db'));
    // WAL with NORMAL can lose the last acknowledged changes on a power cut; FULL (2) cannot.
    expect(await store.settings()).toEqual({ journalMode: 'wal', synchronous: 2 });
    await store.close();
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
    const f = join(tempDir('registry'), 'kiln.db');
    const r = await openSqliteRegistry(f, { activityWindowMs: 3_600_000 });
    await r.upsert(input({}));
    expect(await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:01:02:03' })).toBe('written');
    expect(await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:01:02:03' })).toBe('folded');
    await r.close();
    // closing twice is harmless (service shutdown paths may both close it)
    await r.close();
    const again = await openSqliteRegistry(f);
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
  it('applies defaults and names the bad field', async () => {
    const ok = parseNodesYaml('defaults: {image: fixture}\nnodes:\n  - {name: pi-01, serial: 1234abcd}\n');
    expect(ok[0]).toMatchObject({ name: 'pi-01', image: 'fixture', role: 'agent' });
    expect(() => parseNodesYaml('nodes:\n  - {name: pi-01, serial: 1234abcd}\n  - {name: pi-02, mac: nope}\n')).toThrow(/nodes\[1\] \(pi-02\): mac:/);
    expect(() => parseNodesYaml('nodes:\n  - {name: Bad_Name, serial: 1234abcd}\n')).toThrow(/nodes\[0\] \(Bad_Name\): name:/);
    expect(() => parseNodesYaml('nodes:\n  - {name: pi-01, serial: 1234abcd, colour: red}\n')).toThrow(/nodes\[0\] \(pi-01\)/);
    expect(() => parseNodesYaml('nodez: []\n')).toThrow(/nodes/);
  });

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
