import Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { NodeRegistry, openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { registryPath } from '../../../src/serve/nodes/store/open.js';
import { openPostgresStore } from '../../../src/serve/nodes/store/postgres.js';
import { LATEST_SCHEMA_VERSION } from '../../../src/serve/nodes/store/postgres-schema.js';
import type { SqlStore } from '../../../src/serve/nodes/store/sql.js';
import { SQLITE_SCHEMA_VERSION } from '../../../src/serve/nodes/store/sqlite-schema.js';
import { openSqliteStore } from '../../../src/serve/nodes/store/sqlite.js';
import { EVENT_COLUMNS, type ExportLine, NODE_COLUMNS } from '../../../src/serve/nodes/store/transfer.js';
import { CliFailure, type CliResult, kiln } from '../../helpers/cli.js';
import { must } from '../../helpers/must.js';
import { type PgServer, startPostgres } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/tmp.js';

// `kiln registry export | import` through the CLI, SQLite → PostgreSQL → SQLite on a real
// PostgreSQL: every node column and event (ids, agents, data byte for byte) survives each hop, and
// the registry on the imported store carries on where the old one stopped.

// A hang (an import waiting for lines that never come) fails in a minute, not the project's hour.
vi.setConfig({ testTimeout: 60_000 });

let server: PgServer;
beforeAll(async () => {
  // no test here crashes the server: it may skip fsync (each test makes databases)
  server = await startPostgres({ durable: false });
});
afterAll(async () => {
  await server?.destroy();
});

let databases = 0;
const newPgDatabase = (): Promise<string> => server.createDatabase(`transfer${++databases}`);

/** `kiln <args>`, which must exit 0. */
async function ok(...args: string[]): Promise<CliResult> {
  const r = await kiln(...args);
  if (r.code !== 0) throw new CliFailure(r);
  return r;
}

const readLines = (file: string): ExportLine[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ExportLine);

/** Everything but the header, which names the source store and its schema version. */
const body = (lines: ExportLine[]): ExportLine[] => lines.filter((l) => !('header' in l));

const counts = async (s: Pick<SqlStore, 'get'>): Promise<{ nodes: number; events: number }> => ({
  nodes: Number((await s.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM nodes'))?.n),
  events: Number((await s.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM events'))?.n),
});

/** What the test needs to know about the registry it built: secrets only the running registry handed out. */
interface Built {
  state: string;
  /** pi-01's credential, from its enrolment. */
  credential: string;
  /** pi-01's install token, used by that enrolment. */
  usedToken: string;
  /** pi-02's install token: served, not used yet. */
  servedToken: string;
}

/**
 * A SQLite registry with a bit of everything, made through the registry and the CLI as a real one
 * is: an enrolled node with a credential, a node with a served install token and config.txt lines,
 * a parked one, a discovered placeholder, activity, events from a serving agent (rack1) and from
 * the CLI (no agent), text that is not ASCII.
 */
async function buildSqliteRegistry(): Promise<Built> {
  const state = join(tempDir('transfer', 'file'), 'state');
  const r = await openSqliteRegistry(registryPath(state), { agent: 'rack1', activityWindowMs: 3_600_000 });
  let secrets: Omit<Built, 'state'>;
  try {
    await r.upsert(
      nodeInputSchema.parse({
        name: 'pi-01',
        serial: '1234abcd',
        mac: 'dc:a6:32:01:02:03',
        role: 'server',
        clusterInit: true,
        disk: 'nvme0n1',
        sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxcdRt2fNmO0Xnl3IYJQ5R0Qr9pOfRbzg0jXo6Hb3cV ops@example'],
      }),
    );
    await r.learnBoard('pi-01', { model: 'pi5', boardRevision: 'c04170' });
    const usedToken = must(await r.installTokenFor('pi-01'), 'the install token of pi-01');
    await r.record('pi-01', 'install-started');
    const enrolled = await r.enroll('pi-01', { token: usedToken, previous: undefined, ip: '10.0.0.11' });
    const credential = must(enrolled.credential, 'the credential pi-01 enrolled for');
    // still installing, so its used token is refused as reused (an installed node is refused earlier, as not installing)
    await r.record('pi-01', 'install-progress', { progress: 50 });
    await r.bindAddress('pi-01', '10.0.0.11');
    await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:01:02:03' });
    await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:01:02:03' });
    await r.activity('pi-01', 'file-fetched', { path: 'start4.elf' }, { key: 'start4.elf' });

    await r.upsert(nodeInputSchema.parse({ name: 'pi-02', serial: '22222222' }));
    await r.updateSettings('pi-02', { configTxt: ['dtoverlay=disable-wifi', 'gpu_mem=16'], selfHeal: false });
    const servedToken = must(await r.installTokenFor('pi-02'), 'the install token of pi-02');

    await r.upsert(nodeInputSchema.parse({ name: 'pi-03', mac: 'dc:a6:32:03:03:03' }));
    await r.record('pi-03', 'installed', { sha256: 'b'.repeat(64) });
    await r.park('pi-03', 'disk “sda” gave up — ünïcode, quotes " and a \\ backslash');

    await r.recordDiscovered('dc:a6:32:09:09:09', 'cafe0001', '10.0.0.5', { model: 'pi4', boardRevision: 'd03114' });
    secrets = { credential, usedToken, servedToken };
  } finally {
    // writes the dhcp-seen still being aggregated
    await r.close();
  }
  // the CLI writes without an agent name
  await ok('node', 'add', 'pi-04', '--mac', 'dc:a6:32:04:04:04', '--state-dir', state, '--store', 'sqlite');
  return { state, ...secrets };
}

/** The registry above, exported once by `kiln registry export` (the tests only read both). */
let fixture: Promise<Built & { file: string }> | undefined;
const exported = (): Promise<Built & { file: string }> =>
  (fixture ??= (async () => {
    const built = await buildSqliteRegistry();
    const file = join(tempDir('transfer', 'file'), 'sqlite.jsonl');
    await ok('registry', 'export', '--state-dir', built.state, '--store', 'sqlite', '-o', file);
    return { ...built, file };
  })());

describe('kiln registry export | import', () => {
  it('moves every node and event SQLite → PostgreSQL → SQLite unchanged; on PostgreSQL the registry carries on', async () => {
    const built = await exported();
    const first = readLines(built.file);
    // the fixture holds what this test claims to move, so an empty or thin export cannot pass
    expect(first[0]).toEqual({ header: { kiln: 'registry-export', format: 1, schemaVersion: SQLITE_SCHEMA_VERSION, source: 'sqlite' } });
    const nodes = new Map(first.flatMap((l) => ('node' in l ? [[String(l.node.name), l.node] as const] : [])));
    const events = first.flatMap((l) => ('event' in l ? [l.event] : []));
    expect([...nodes.keys()]).toEqual(['pi-01', 'pi-02', 'pi-03', 'pi-04', 'pi-cafe0001']);
    for (const n of nodes.values()) expect(Object.keys(n).sort()).toEqual([...NODE_COLUMNS].sort());
    expect(nodes.get('pi-01')).toMatchObject({ credential_hash: expect.stringMatching(/^[0-9a-f]{64}$/), install_used: expect.any(String), model: 'pi5' });
    expect(nodes.get('pi-02')).toMatchObject({ install_token: built.servedToken, install_expires: expect.any(String), install_used: null, self_heal: 0 });
    expect(nodes.get('pi-02')?.config_txt).toContain('gpu_mem=16');
    expect(nodes.get('pi-03')?.parked).toContain('ünïcode');
    expect(nodes.get('pi-cafe0001')).toMatchObject({ plan: 'discovered', ip: '10.0.0.5' });
    expect(new Set(events.map((e) => e.type))).toEqual(
      new Set(['registered', 'install-started', 'enrolled', 'install-progress', 'dhcp-seen', 'file-fetched', 'updated', 'installed', 'parked', 'discovered']),
    );
    expect(events.filter((e) => e.agent === 'rack1').length).toBeGreaterThan(5);
    expect(events.at(-1)).toMatchObject({ node: 'pi-04', type: 'registered', agent: null });
    expect(first.at(-1)).toEqual({ end: { nodes: 5, events: events.length } });

    const dir = tempDir('transfer');
    const pgUrl = await newPgDatabase();
    await ok('registry', 'import', built.file, '--store', pgUrl);
    const fromPg = join(dir, 'postgres.jsonl');
    await ok('registry', 'export', '--store', pgUrl, '-o', fromPg);
    const second = readLines(fromPg);
    expect(second[0]).toEqual({ header: { kiln: 'registry-export', format: 1, schemaVersion: LATEST_SCHEMA_VERSION, source: 'postgres' } });
    expect(body(second)).toEqual(body(first));

    const state = join(dir, 'state');
    await ok('registry', 'import', fromPg, '--state-dir', state, '--store', 'sqlite');
    const again = join(dir, 'sqlite-again.jsonl');
    await ok('registry', 'export', '--state-dir', state, '--store', 'sqlite', '-o', again);
    // same source, same schema: the same file, byte for byte
    expect(readFileSync(again, 'utf8')).toBe(readFileSync(built.file, 'utf8'));
    const lastId = must(events.at(-1), 'the last event').id;
    const lite = await openSqliteRegistry(registryPath(state));
    expect(await lite.lastEventId()).toBe(lastId);
    expect((await lite.record('pi-03', 'first-boot')).id).toBe(lastId + 1);
    expect(await lite.hasCredential('pi-01', built.credential)).toBe(true);
    await lite.close();

    const r = await NodeRegistry.open(await openPostgresStore(pgUrl));
    onTestFinished(() => r.close());
    expect(await r.lastEventId()).toBe(lastId);
    // the sequence was moved past the imported ids: a new event does not collide with one
    expect((await r.record('pi-03', 'first-boot')).id).toBe(lastId + 1);
    expect(await r.hasCredential('pi-01', built.credential)).toBe(true);
    expect(await r.hasCredential('pi-01', built.servedToken)).toBe(false);
    // pi-01's token was used (enrolment refused as a reuse); pi-02's was served and still trades for a credential
    expect((await r.enroll('pi-01', { token: built.usedToken, previous: undefined, ip: '10.0.0.11' })).decision).toMatchObject({ ok: false, why: 'reused' });
    expect(await r.installTokenFor('pi-02')).toBe(built.servedToken);
    const enrolled = await r.enroll('pi-02', { token: built.servedToken, previous: undefined, ip: '10.0.0.12' });
    expect(enrolled.decision).toEqual({ ok: true });
    expect(await r.hasCredential('pi-02', must(enrolled.credential, 'the credential of pi-02'))).toBe(true);
  });

  it('refuses a store that already holds nodes or events, changing nothing in it', async () => {
    const built = await exported();
    const pgUrl = await newPgDatabase();
    await ok('registry', 'import', built.file, '--store', pgUrl);
    const pg = await openPostgresStore(pgUrl);
    onTestFinished(() => pg.close());
    const before = await counts(pg);
    expect(before.nodes).toBe(5);
    const refused = await kiln('registry', 'import', built.file, '--store', pgUrl);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/already holds nodes or events/);
    expect(await counts(pg)).toEqual(before);
    // the SQLite it came from, likewise
    const back = await kiln('registry', 'import', built.file, '--state-dir', built.state, '--store', 'sqlite');
    expect(back.code).not.toBe(0);
    expect(back.stderr).toMatch(/already holds nodes or events/);
  });

  it('imports nothing from a truncated file (no end line) or one whose counts disagree with its lines', async () => {
    const built = await exported();
    const lines = readFileSync(built.file, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const dir = tempDir('transfer');
    const truncated = join(dir, 'truncated.jsonl');
    writeFileSync(truncated, `${lines.slice(0, -1).join('\n')}\n`);
    // an event line lost in the middle, the end line kept
    const missing = join(dir, 'missing.jsonl');
    writeFileSync(missing, `${[...lines.slice(0, -3), ...lines.slice(-2)].join('\n')}\n`);
    for (const [file, why] of [
      [truncated, /ends without its end line/],
      [missing, /the end line counts 5 nodes and \d+ events; the file holds 5 and \d+/],
    ] as const) {
      const pgUrl = await newPgDatabase();
      const r = await kiln('registry', 'import', file, '--store', pgUrl);
      expect(r.code, file).not.toBe(0);
      expect(r.stderr).toMatch(why);
      const pg = await openPostgresStore(pgUrl);
      expect(await counts(pg)).toEqual({ nodes: 0, events: 0 });
      await pg.close();
      const state = join(tempDir('transfer'), 'state');
      const lite = await kiln('registry', 'import', file, '--state-dir', state, '--store', 'sqlite');
      expect(lite.code, file).not.toBe(0);
      expect(lite.stderr).toMatch(why);
      const s = await openSqliteStore(registryPath(state));
      expect(await counts(s)).toEqual({ nodes: 0, events: 0 });
      await s.close();
    }
  });

  it('writes the export 0600 whatever the umask, from either store', async () => {
    const built = await exported();
    const pgUrl = await newPgDatabase();
    await ok('registry', 'import', built.file, '--store', pgUrl);
    const dir = tempDir('transfer');
    const old = process.umask(0);
    try {
      await ok('registry', 'export', '--state-dir', built.state, '--store', 'sqlite', '-o', join(dir, 'a.jsonl'));
      await ok('registry', 'export', '--store', pgUrl, '-o', join(dir, 'b.jsonl'));
    } finally {
      process.umask(old);
    }
    for (const f of ['a.jsonl', 'b.jsonl']) expect((statSync(join(dir, f)).mode & 0o777).toString(8), f).toBe('600');
  });
});

describe('the compiled CLI (bin/kiln.js), as its own process', () => {
  it('exports 0600 under its own umask and imports into PostgreSQL the same lines the in-process CLI wrote', async () => {
    // dist-js older than these sources would test yesterday's import (the one that waited forever)
    const compiled = 'dist-js/cli/registry.js';
    for (const src of ['src/cli/registry.ts', 'src/serve/nodes/store/transfer.ts', 'src/serve/nodes/store/postgres.ts']) {
      if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(src).mtimeMs) {
        throw new Error(`${compiled} is missing or older than ${src}: run npx tsc -p tsconfig.json first`);
      }
    }
    const built = await exported();
    const dir = tempDir('transfer');
    const run = (...args: string[]) =>
      execa('sh', ['-c', 'umask 0 && exec "$0" "$@"', process.execPath, resolve('bin/kiln.js'), ...args], { reject: false, env: { KILN_STORE: '' } });
    const out = join(dir, 'compiled.jsonl');
    const exp = await run('registry', 'export', '--state-dir', built.state, '-o', out);
    expect(exp.exitCode, exp.stderr).toBe(0);
    expect(exp.stderr).toMatch(/^exported 5 nodes and \d+ events from .*kiln\.db to /);
    expect((statSync(out).mode & 0o777).toString(8)).toBe('600');
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(built.file, 'utf8'));
    const pgUrl = await newPgDatabase();
    const imp = await run('registry', 'import', out, '--store', pgUrl);
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect(imp.stderr).toMatch(/^imported 5 nodes and \d+ events into postgres:\/\/kiln@127\.0\.0\.1:\d+\/transfer\d+$/);
    const pg = await openPostgresStore(pgUrl);
    onTestFinished(() => pg.close());
    const end = must(readLines(out).at(-1), 'the end line');
    expect('end' in end && end.end).toEqual(await counts(pg));
  });
});

describe("the export's column list", () => {
  it('is every column of nodes and events in a new SQLite and a new PostgreSQL store, so none is silently left out', async () => {
    const file = join(tempDir('transfer'), 'kiln.db');
    await (await openSqliteStore(file)).close();
    const raw = new Database(file, { readonly: true });
    const liteCols = (table: string): string[] => (raw.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name).sort();
    const lite = { nodes: liteCols('nodes'), events: liteCols('events') };
    raw.close();
    const pg = await openPostgresStore(await newPgDatabase());
    onTestFinished(() => pg.close());
    const pgCols = async (table: string): Promise<string[]> =>
      (
        await pg.all<{ name: string }>('SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?', [
          table,
        ])
      )
        .map((c) => c.name)
        .sort();
    const exportedEventCols = [...EVENT_COLUMNS].sort();
    expect(lite.nodes).toEqual([...NODE_COLUMNS].sort());
    expect(await pgCols('nodes')).toEqual([...NODE_COLUMNS].sort());
    expect(lite.events).toEqual(exportedEventCols);
    expect(await pgCols('events')).toEqual(exportedEventCols);
  });
});
