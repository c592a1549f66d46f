import Database from 'better-sqlite3';
import { join } from 'node:path';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeRegistry, openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { describeStore, openPostgresStore, PostgresStoreError } from '../../../src/serve/nodes/store/postgres.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, SchemaTooNewError } from '../../../src/serve/nodes/store/postgres-schema.js';
import type { SqlQueries, SqlStore } from '../../../src/serve/nodes/store/sql.js';
import { must } from '../../helpers/must.js';
import { freeTcpPort, sleep } from '../../helpers/net.js';
import { type PgServer, startPostgres } from '../../helpers/postgres.js';
import { tempDir } from '../../helpers/tmp.js';

// The PostgreSQL store against a real PostgreSQL (Debian's, one server for the file; each test
// that needs a schema of its own makes a database).

let server: PgServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

let databases = 0;
/** A store on a new database, closed when the test ends. */
async function freshStore(onTestFinished: (fn: () => Promise<void>) => void): Promise<{ store: SqlStore; url: string }> {
  databases += 1;
  const url = await server.createDatabase(`t${databases}`);
  const store = await openPostgresStore(url);
  onTestFinished(() => store.close());
  return { store, url };
}

const event = (store: Pick<SqlStore, 'get'>, node: string, type: string, data = '{}') =>
  store.get<{ id: number }>('INSERT INTO events (node, type, at, data) VALUES (?, ?, ?, ?) RETURNING id', [node, type, new Date().toISOString(), data]);

describe('schema migrations', () => {
  it('applies every migration once, and a reopen finds it done', async ({ onTestFinished }) => {
    const { store, url } = await freshStore(onTestFinished);
    expect(store.kind).toBe('postgres');
    expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    await store.close();
    const again = await openPostgresStore(url);
    onTestFinished(() => again.close());
    expect(await again.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    const rows = await again.all<{ version: number }>('SELECT version FROM kiln_schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('two kilns opening a new database at once both open it, and it is migrated once', async ({ onTestFinished }) => {
    const url = await server.createDatabase('simultaneous');
    const stores = await Promise.all([openPostgresStore(url), openPostgresStore(url), openPostgresStore(url)]);
    onTestFinished(async () => {
      for (const s of stores) await s.close();
    });
    for (const s of stores) expect(await s.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    expect(await stores[0]?.get<{ n: number }>('SELECT COUNT(*) AS n FROM kiln_schema_migrations')).toEqual({ n: LATEST_SCHEMA_VERSION });
  });

  it("has the SQLite registry's nodes and events columns: names, NOT NULL, defaults", async ({ onTestFinished }) => {
    const path = join(tempDir('pg-sqlite'), 'kiln.db');
    await (await openSqliteRegistry(path)).close();
    const lite = new Database(path, { readonly: true });
    // SQLite lets a TEXT PRIMARY KEY hold NULL; PostgreSQL's primary key is NOT NULL, as kiln treats it anyway
    type Info = { name: string; notnull: number; dflt_value: string | null; pk: number };
    const liteCols = (table: string) =>
      (lite.prepare(`PRAGMA table_info(${table})`).all() as Info[]).map((c) => ({ name: c.name, notNull: c.notnull === 1 || c.pk > 0, dflt: c.dflt_value }));
    const expected = { nodes: liteCols('nodes'), events: liteCols('events') };
    lite.close();

    const { store } = await freshStore(onTestFinished);
    for (const table of ['nodes', 'events'] as const) {
      const cols = await store.all<{ name: string; nullable: string; dflt: string | null }>(
        `SELECT column_name AS name, is_nullable AS nullable, column_default AS dflt
           FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`,
        [table],
      );
      // PostgreSQL spells a text default with its type ('[]'::text)
      const got = cols.map((c) => ({ name: c.name, notNull: c.nullable === 'NO', dflt: c.dflt?.replace(/::text$/, '') ?? null }));
      expect(got).toEqual(expected[table]);
    }
  });

  it('upgrades a database an older kiln left at migration 1, keeping its rows (old events have no agent)', async ({ onTestFinished }) => {
    const url = await server.createDatabase('at-migration-1');
    // what the kiln of migration 1 left: its schema, its version row, a node as it wrote them (the
    // report token not yet a credential hash, no provision id) and that node's event
    const c = new pg.Client(url);
    await c.connect();
    try {
      await c.query(must(MIGRATIONS[0], 'migration 1').sql);
      await c.query('CREATE TABLE kiln_schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
      await c.query("INSERT INTO kiln_schema_migrations (version, applied_at) VALUES (1, '2025-01-01T00:00:00.000Z')");
      await c.query(
        `INSERT INTO nodes (name, mac, role, plan, state, report_token, created_at, disk)
           VALUES ('old-01', 'dc:a6:32:00:00:01', 'agent', 'local', 'joined', $1, '2025-01-01T00:00:00.000Z', 'sda')`,
        ['e'.repeat(64)],
      );
      await c.query("INSERT INTO events (node, type, at, data) VALUES ('old-01', 'registered', '2025-01-01T00:00:00.000Z', '{\"by\":\"old\"}')");
    } finally {
      await c.end();
    }

    const r = await NodeRegistry.open(await openPostgresStore(url), { agent: 'rack1' });
    onTestFinished(() => r.close());
    expect(await r.mustGet('old-01')).toMatchObject({ mac: 'dc:a6:32:00:00:01', plan: 'local', state: 'joined', disk: 'sda', provisionId: 1 });
    expect(await r.hasCredential('old-01', 'e'.repeat(64))).toBe(true);
    expect(await r.events({ node: 'old-01' })).toEqual([
      { id: 1, node: 'old-01', type: 'registered', at: '2025-01-01T00:00:00.000Z', data: { by: 'old' }, agent: null },
    ]);
    // migration 2's column and table are there and used
    const next = await r.record('old-01', 'reprovision');
    expect(next).toMatchObject({ id: 2, agent: 'rack1' });
    const store = await openPostgresStore(url);
    onTestFinished(() => store.close());
    expect(await store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    expect((await store.all<{ version: number }>('SELECT version FROM kiln_schema_migrations ORDER BY version')).map((v) => v.version)).toEqual(
      MIGRATIONS.map((m) => m.version),
    );
    expect(await store.all('SELECT id, agent FROM events ORDER BY id')).toEqual([
      { id: 1, agent: null },
      { id: 2, agent: 'rack1' },
    ]);
    expect(await store.all('SELECT name FROM agents')).toEqual([]);
  });
});

describe('statements', () => {
  it('binds ? placeholders, leaves a quoted ? alone, and gives int8 and COUNT as numbers', async ({ onTestFinished }) => {
    const { store } = await freshStore(onTestFinished);
    const insert = await store.run(
      "INSERT INTO nodes (name, serial, role, plan, state, report_token, created_at, config_txt) VALUES (?, ?, 'agent', 'install', 'new', '', ?, '[\"?\"]')",
      ['pi-01', '1234abcd', '2026-01-01T00:00:00.000Z'],
    );
    expect(insert).toEqual({ changes: 1 });
    expect(await store.get('SELECT name, serial, config_txt, cluster_init, self_heal FROM nodes WHERE name = ? AND serial = ?', ['pi-01', '1234abcd'])).toEqual(
      {
        name: 'pi-01',
        serial: '1234abcd',
        config_txt: '["?"]',
        cluster_init: 0,
        self_heal: 1,
      },
    );
    expect(await store.get('SELECT name FROM nodes WHERE name = ?', ['pi-02'])).toBeUndefined();
    const first = await event(store, 'pi-01', 'registered');
    expect(typeof first?.id).toBe('number');
    await event(store, 'pi-01', 'dhcp-seen');
    expect(await store.get('SELECT COUNT(*) AS n, MAX(id) AS top FROM events WHERE node = ?', ['pi-01'])).toEqual({ n: 2, top: (first?.id ?? 0) + 1 });
    expect(await store.run('UPDATE nodes SET ip = ? WHERE name = ?', ['10.0.0.5', 'nobody'])).toEqual({ changes: 0 });
    expect(await store.run('UPDATE nodes SET ip = ?, last_seen = ? WHERE name = ?', ['10.0.0.5', null, 'pi-01'])).toEqual({ changes: 1 });
    await expect(store.get('SELECT ? AS a', [1, 2])).rejects.toThrow('1 placeholders but 2 parameters');
  });

  it('a UNIQUE clash is PostgreSQL’s own error (SQLSTATE 23505), not a connection failure', async ({ onTestFinished }) => {
    const { store } = await freshStore(onTestFinished);
    const add = (name: string) =>
      store.run("INSERT INTO nodes (name, mac, role, plan, state, report_token, created_at) VALUES (?, ?, 'agent', 'install', 'new', '', 'now')", [
        name,
        'aa:bb',
      ]);
    await add('a');
    const err = await add('b').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect((err as pg.DatabaseError).code).toBe('23505');
  });
});

describe('transactions', () => {
  it('commits when fn resolves, rolls back and rethrows what fn threw', async ({ onTestFinished }) => {
    const { store } = await freshStore(onTestFinished);
    const id = await store.transaction(async (tx) => (await event(tx, 'pi', 'registered'))?.id);
    expect(await store.get('SELECT id FROM events')).toEqual({ id });

    const mine = new Error('changed my mind');
    await expect(
      store.transaction(async (tx) => {
        await event(tx, 'pi', 'install-started');
        throw mine;
      }),
    ).rejects.toBe(mine);
    expect(await store.get('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 1 });
  });

  it('a failed statement whose error fn caught still rolls the transaction back, and says so', async ({ onTestFinished }) => {
    const { store } = await freshStore(onTestFinished);
    await expect(
      store.transaction(async (tx) => {
        await event(tx, 'pi', 'registered');
        await tx.run('UPDATE events SET node = ?', ['x']).catch(() => undefined);
      }),
    ).rejects.toThrow('rolled back');
    expect(await store.get('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 0 });
  });

  it('refuses the store itself inside a transaction (statements and nested transactions), and a tx used after its end', async ({ onTestFinished }) => {
    const { store } = await freshStore(onTestFinished);
    await expect(store.transaction(() => store.get('SELECT 1'))).rejects.toThrow('inside a transaction');
    await expect(store.transaction(() => store.transaction(async () => 1))).rejects.toThrow('store.transaction inside a transaction');
    let leaked: SqlQueries | undefined;
    await store.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(must(leaked, 'tx').get('SELECT 1')).rejects.toThrow('used after the transaction ended');
    // work a transaction started that outlives it is outside it, not refused
    let later: Promise<unknown> = Promise.resolve();
    await store.transaction(async () => {
      later = sleep(20).then(() => store.get('SELECT 1 AS one'));
    });
    expect(await later).toEqual({ one: 1 });
  });

  it('queues its own write transactions without holding connections, so reads go on meanwhile', async ({ onTestFinished }) => {
    const url = await server.createDatabase('queued');
    const store = await openPostgresStore(url, { maxConnections: 2, connectTimeoutMs: 2000 });
    onTestFinished(() => store.close());
    let done = 0;
    const writes = Array.from({ length: 12 }, (_, i) =>
      store.transaction(async (tx) => {
        await sleep(40);
        await event(tx, `n${i}`, 'note');
        done += 1;
      }),
    );
    expect(await store.get('SELECT 1 AS one')).toEqual({ one: 1 });
    expect(done).toBeLessThan(3);
    await Promise.all(writes);
    expect(await store.get('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 12 });
  });

  it('serializes write transactions across pools: each sees every earlier commit, ids come out in commit order', async ({ onTestFinished }) => {
    const { store: a, url } = await freshStore(onTestFinished);
    const b = await openPostgresStore(url);
    onTestFinished(() => b.close());
    // read, dawdle, then write what was read: two that overlapped would both see the same last id
    const step = (store: SqlStore, who: string) =>
      store.transaction(async (tx) => {
        const seen = (await tx.get<{ top: number | null }>('SELECT MAX(id) AS top FROM events'))?.top ?? 0;
        await sleep(15);
        return (await event(tx, who, 'note', JSON.stringify({ seen })))?.id;
      });
    await Promise.all(Array.from({ length: 8 }, (_, i) => [step(a, `a${i}`), step(b, `b${i}`)]).flat());
    const rows = await a.all<{ id: number; data: string }>('SELECT id, data FROM events ORDER BY id');
    expect(rows).toHaveLength(16);
    let previous = 0;
    for (const r of rows) {
      expect((JSON.parse(r.data) as { seen: number }).seen).toBe(previous);
      previous = r.id;
    }

    // the control: the same read-then-write without kiln's lock does overlap
    const c1 = new pg.Client(url);
    const c2 = new pg.Client(url);
    await c1.connect();
    await c2.connect();
    onTestFinished(async () => {
      await c1.end();
      await c2.end();
    });
    const unlocked = async (c: pg.Client) => {
      await c.query('BEGIN');
      const seen = (await c.query<{ top: string }>('SELECT MAX(id) AS top FROM events')).rows[0]?.top;
      await sleep(30);
      await c.query('COMMIT');
      return seen;
    };
    const [s1, s2] = await Promise.all([unlocked(c1), unlocked(c2)]);
    expect(s1).toBe(s2);
  });
});

describe('change notices (LISTEN/NOTIFY)', () => {
  /** Resolves when `count()` reaches `n`, or fails naming what it saw. */
  async function until(count: () => number, n: number, what: string): Promise<void> {
    const end = Date.now() + 10_000;
    while (count() < n) {
      if (Date.now() > end) throw new Error(`${what}: ${count()} notices, expected ${n}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("tell one agent's store about another's commits, not about rollbacks, and come back after a restart", async ({ onTestFinished }) => {
    const { store: a, url } = await freshStore(onTestFinished);
    const b = await openPostgresStore(url);
    onTestFinished(() => b.close());
    let notices = 0;
    const stop = await must(
      a.watch,
      'the PostgreSQL store watches',
    )((): void => {
      notices += 1;
    });
    onTestFinished(stop);
    // one notice when the LISTEN is in place: a reader re-reads what it may have missed before
    await until(() => notices, 1, 'after LISTEN');
    await b.transaction(async (tx) => event(tx, 'pi-01', 'registered'));
    await until(() => notices, 2, 'after a commit on the other store');
    await expect(
      b.transaction(async (tx) => {
        await event(tx, 'pi-01', 'updated');
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    await new Promise((r) => setTimeout(r, 300));
    expect(notices).toBe(2);
    await server.restart();
    // re-listened (and said so), then hears commits again
    await until(() => notices, 3, 'after the restart');
    await b.transaction(async (tx) => event(tx, 'pi-01', 'updated'));
    await until(() => notices, 4, 'after a commit once it is back');
  });
});

describe('the event log is append-only', () => {
  it('refuses UPDATE and TRUNCATE; DELETE only of activity, only with the retention gate open in the same transaction', async ({ onTestFinished }) => {
    const { store } = await freshStore(onTestFinished);
    const state = await event(store, 'pi', 'registered');
    const seen = await event(store, 'pi', 'dhcp-seen');
    await expect(store.run('UPDATE events SET data = ?', ['{"x":1}'])).rejects.toThrow(/^events are append-only$/);
    await expect(store.run('TRUNCATE events')).rejects.toThrow('events are append-only');
    const refused = 'events are append-only (only the retention removes old activity, never a state change)';
    // gate closed: not even activity
    await expect(store.run('DELETE FROM events WHERE id = ?', [seen?.id ?? 0])).rejects.toThrow(refused);
    // gate open: a state change still not
    await expect(
      store.transaction(async (tx) => {
        await tx.run('UPDATE retention_gate SET open = 1 WHERE id = 1');
        await tx.run('DELETE FROM events WHERE id = ?', [state?.id ?? 0]);
      }),
    ).rejects.toThrow(refused);
    // the refused prune rolled back, gate and all
    expect(await store.get('SELECT open FROM retention_gate')).toEqual({ open: 0 });
    const deleted = await store.transaction(async (tx) => {
      await tx.run('UPDATE retention_gate SET open = 1 WHERE id = 1');
      const r = await tx.run('DELETE FROM events WHERE type = ?', ['dhcp-seen']);
      await tx.run('UPDATE retention_gate SET open = 0 WHERE id = 1');
      return r.changes;
    });
    expect(deleted).toBe(1);
    expect(await store.all('SELECT type FROM events')).toEqual([{ type: 'registered' }]);
    // no gate row reads as closed
    await store.run('DELETE FROM retention_gate');
    await event(store, 'pi', 'dhcp-seen');
    await expect(store.run("DELETE FROM events WHERE type = 'dhcp-seen'")).rejects.toThrow(refused);
  });
});

describe('refusals and failures', () => {
  it('refuses a database whose schema is newer than this kiln knows, naming both versions', async ({ onTestFinished }) => {
    const { store, url } = await freshStore(onTestFinished);
    await store.run("INSERT INTO kiln_schema_migrations (version, applied_at) VALUES (?, 'later')", [LATEST_SCHEMA_VERSION + 6]);
    const err = await openPostgresStore(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaTooNewError);
    expect(String(err)).toContain(`schema version ${LATEST_SCHEMA_VERSION + 6}, newer than this kiln knows (${LATEST_SCHEMA_VERSION})`);
    expect(String(err)).not.toContain(server.password);
  });

  it('names host, port and database when it cannot connect, never the password', async () => {
    const password = 'S3cret-not-for-logs';
    const everything = (e: unknown) => `${String(e)}\n${inspect(e, { depth: 5 })}\n${JSON.stringify(e)}`;
    const deadPort = await freeTcpPort();
    const cases = [
      // wrong password
      { url: `postgres://kiln:${password}@127.0.0.1:${server.port}/kiln`, names: [`127.0.0.1:${server.port}/kiln`, 'password authentication failed'] },
      // nothing listening
      { url: `postgres://kiln:${password}@127.0.0.1:${deadPort}/kiln`, names: [`127.0.0.1:${deadPort}/kiln`, 'ECONNREFUSED'] },
      // the right password, a database that is not there
      { url: `postgres://kiln:${server.password}@127.0.0.1:${server.port}/nothere`, names: [`127.0.0.1:${server.port}/nothere`, 'does not exist'] },
    ];
    for (const c of cases) {
      const err = await openPostgresStore(c.url, { connectTimeoutMs: 3000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PostgresStoreError);
      for (const name of c.names) expect(String(err)).toContain(name);
      const text = everything(err);
      expect(text).not.toContain(password);
      expect(text).not.toContain(server.password);
    }
    expect(describeStore(`postgresql://kiln:${encodeURIComponent('p@ss/word')}@db.example:6543/reg`)).toBe('postgres://kiln@db.example:6543/reg');
    const bad = await openPostgresStore(`postgres://kiln:${password}@[nonsense/kiln`).catch((e: unknown) => e);
    expect(String(bad)).not.toContain(password);
  });

  it('recovers for the next statement after PostgreSQL restarts, and after it is killed and started again', async ({ onTestFinished }) => {
    const lost: string[] = [];
    const url = await server.createDatabase('restarts');
    const store = await openPostgresStore(url, { log: (m) => lost.push(m) });
    onTestFinished(() => store.close());
    await event(store, 'pi', 'registered');
    await server.restart();
    expect(await store.get('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 1 });
    await store.transaction((tx) => event(tx, 'pi', 'install-started'));
    await server.kill();
    await server.start();
    expect(await store.get('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 2 });
    expect(lost.length).toBeGreaterThan(0);
    for (const m of lost) expect(m).not.toContain(server.password);
  });

  it('a transaction whose server goes away fails as a store error (the process lives on), and the pool works once it is back', async ({ onTestFinished }) => {
    const url = await server.createDatabase('midway');
    const store = await openPostgresStore(url);
    onTestFinished(() => store.close());
    const err = await store
      .transaction(async (tx) => {
        await event(tx, 'pi', 'install-started');
        await server.stop();
        await event(tx, 'pi', 'installed');
      })
      .catch((e: unknown) => e);
    await server.start();
    expect(err).toBeInstanceOf(PostgresStoreError);
    expect(String(err)).toContain(`127.0.0.1:${server.port}/midway`);
    expect(await store.get('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 0 });
    await store.transaction((tx) => event(tx, 'pi', 'install-started'));
    expect(await store.get('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 1 });
  });

  it('a kiln stuck mid-transaction loses it (and the write lock) after idleInTransactionMs; the others write on', async ({ onTestFinished }) => {
    const { store: other, url } = await freshStore(onTestFinished);
    const stuck = await openPostgresStore(url, { idleInTransactionMs: 300 });
    onTestFinished(() => stuck.close());
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const hung = stuck
      .transaction(async (tx) => {
        await event(tx, 'pi', 'install-started');
        entered();
        await sleep(1500);
        await event(tx, 'pi', 'installed');
      })
      .catch((e: unknown) => e);
    await inside;
    const t0 = Date.now();
    await other.transaction((tx) => event(tx, 'pi', 'registered'));
    expect(Date.now() - t0).toBeLessThan(1400);
    expect(await hung).toBeInstanceOf(Error);
    expect(await other.all('SELECT type FROM events')).toEqual([{ type: 'registered' }]);
  });

  it('refuses to migrate a database that already has tables of those names, and leaves it as it was', async () => {
    const url = await server.createDatabase('foreign');
    const c = new pg.Client(url);
    await c.connect();
    try {
      await c.query('CREATE TABLE nodes (id int)');
      const err = await openPostgresStore(url).catch((e: unknown) => e);
      expect(String(err)).toContain(`postgres://kiln@127.0.0.1:${server.port}/foreign: registry schema migration 1 failed: relation "nodes" already exists`);
      expect((await c.query("SELECT to_regclass('kiln_schema_migrations') AS t")).rows).toEqual([{ t: null }]);
    } finally {
      await c.end();
    }
  });
});
