import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { NodeRegistry, openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { SQLITE_SCHEMA_VERSION } from '../../../src/serve/nodes/store/sqlite-schema.js';
import { openSqliteStore } from '../../../src/serve/nodes/store/sqlite.js';
import { parseNodesYaml } from '../../../src/serve/nodes/yaml.js';
import { tempDir } from '../../helpers/tmp.js';
import { registrySuite } from '../../shared/registry-suite.js';

// The registry's behaviour on the embedded SQLite store (test/shared/registry-suite.ts; the same
// suite runs on PostgreSQL in test/integration/store/registry-postgres.test.ts). A file per test:
// ':memory:' would skip WAL and the file-level settings every real registry runs with.
registrySuite('SQLite', async () => {
  const file = join(tempDir('registry'), 'kiln.db');
  return { open: (opts) => openSqliteRegistry(file, opts), sql: () => openSqliteStore(file) };
});

const input = (o: Record<string, unknown>) => nodeInputSchema.parse({ name: 'pi-01', serial: '1234ABCD', ...o });

// SQLite only: database files an older kiln made, and the connection's pragmas.
describe('NodeRegistry on SQLite', () => {
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
});

describe('schema version 1 on SQLite', () => {
  it('upgrades a database from before events.agent and the agents table, keeping its rows', async () => {
    const file = join(tempDir('registry'), 'kiln.db');
    const r = await openSqliteRegistry(file);
    await r.upsert(input({ disk: 'sda' }));
    await r.record('pi-01', 'install-started', { note: 'old' });
    await r.close();
    // what a kiln of schema version 1 left: the same tables but events without agent, no agents table
    const old = new Database(file);
    old.exec('DROP TABLE agents; ALTER TABLE events DROP COLUMN agent;');
    old.pragma('user_version = 1');
    old.close();

    const store = await openSqliteStore(file);
    expect(await store.schemaVersion()).toBe(SQLITE_SCHEMA_VERSION);
    const again = await NodeRegistry.open(store, { agent: 'rack1' });
    expect(await again.mustGet('pi-01')).toMatchObject({ serial: '1234abcd', disk: 'sda', state: 'installing' });
    expect((await again.events({ node: 'pi-01' })).map((e) => [e.id, e.type, e.data, e.agent])).toEqual([
      [1, 'registered', { source: 'db' }, null],
      [2, 'install-started', { note: 'old' }, null],
    ]);
    expect(await again.record('pi-01', 'installed')).toMatchObject({ id: 3, agent: 'rack1' });
    await again.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.prepare('SELECT COUNT(*) AS n FROM agents').get()).toEqual({ n: 0 });
    raw.close();
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
});
