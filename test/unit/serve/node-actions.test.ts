import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry, RegistryError } from '../../../src/serve/nodes/registry.js';
import { syncNodesFile } from '../../../src/serve/nodes/yaml.js';
import { must } from '../../helpers/must.js';
import { tempDir } from '../../helpers/tmp.js';
import { writeFileSync } from 'node:fs';

// The registry side of the dashboard's node actions: settings, unpark, approve, install progress.

function registry(): Promise<NodeRegistry> {
  return openSqliteRegistry(join(tempDir('node-actions'), 'kiln.db'));
}
const input = (o: Record<string, unknown>) => nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd', ...o });
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
    const r = await openSqliteRegistry(join(dir, 'kiln.db'));
    writeFileSync(join(dir, 'nodes.yaml'), 'nodes:\n  - {name: pi-07, serial: "77777777"}\n');
    await syncNodesFile(r, join(dir, 'nodes.yaml'));
    expect(await code(r.updateSettings('pi-07', { selfHeal: true }))).toBe('forbidden');
    await expect(r.updateSettings('pi-07', { selfHeal: true })).rejects.toThrow(/declared in nodes.yaml; change it there/);
    await r.recordDiscovered('dc:a6:32:00:00:09', undefined, null);
    expect(await code(r.updateSettings('pi-dca632000009', { disk: 'sda' }))).toBe('conflict');
    expect(await code(r.updateSettings('nope', {}))).toBe('not-found');
  });

  it('gives a database made before the column its config_txt on open', async () => {
    const file = join(tempDir('node-actions'), 'kiln.db');
    let r = await openSqliteRegistry(file);
    await r.upsert(input({}));
    await r.close();
    const raw = new Database(file);
    raw.exec('ALTER TABLE nodes DROP COLUMN config_txt');
    raw.close();
    r = await openSqliteRegistry(file);
    expect((await r.mustGet('pi-01')).configTxt).toEqual([]);
    expect((await r.updateSettings('pi-01', { configTxt: ['gpu_mem=16'] })).configTxt).toEqual(['gpu_mem=16']);
    await r.close();
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
    expect((await r.events({ node: 'pi-01', limit: 1 }))[0]).toMatchObject({ type: 'unparked', data: { reason: '3 failed installs in a row; last: try 2' } });
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
