import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQLITE_SCHEMA_VERSION } from '../../../src/serve/nodes/store/sqlite-schema.js';
import { openSqliteStore, type SqliteStore } from '../../../src/serve/nodes/store/sqlite.js';
import type { SqlQueries } from '../../../src/serve/nodes/store/sql.js';
import { tempDir } from '../../helpers/tmp.js';

// The SQLite store under the registry: one synchronous connection shared by async callers.

const file = (): string => join(tempDir('sqlite-store'), 'kiln.db');
const eventCount = async (s: SqliteStore): Promise<number> => Number((await s.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM events'))?.n);
const addEvent = (q: SqlQueries, node: string) =>
  q.run("INSERT INTO events (node, type, at, data) VALUES (?, 'updated', '2025-01-01T00:00:00.000Z', '{}')", [node]);

/** A promise and the function that resolves it: holds a transaction open until the test lets go. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('SQLite store', () => {
  it('commits a transaction when its callback resolves, with RETURNING ids', async () => {
    const s = await openSqliteStore(file());
    const ids = await s.transaction(async (tx) => {
      const a = await tx.get<{ id: number }>("INSERT INTO events (node, type, at, data) VALUES ('pi-01', 'updated', 'x', '{}') RETURNING id");
      const b = await tx.get<{ id: number }>("INSERT INTO events (node, type, at, data) VALUES ('pi-01', 'updated', 'x', '{}') RETURNING id");
      return [a?.id, b?.id];
    });
    expect(ids).toEqual([1, 2]);
    expect(await eventCount(s)).toBe(2);
    await s.close();
  });

  it('rolls back when the callback throws, and the next transaction and statement still run', async () => {
    const s = await openSqliteStore(file());
    await expect(
      s.transaction(async (tx) => {
        await addEvent(tx, 'pi-01');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await eventCount(s)).toBe(0);
    // a failing statement inside rolls back the same way
    await expect(
      s.transaction(async (tx) => {
        await addEvent(tx, 'pi-01');
        await tx.run('INSERT INTO no_such_table VALUES (1)');
      }),
    ).rejects.toThrow(/no such table/);
    expect(await eventCount(s)).toBe(0);
    await s.transaction(async (tx) => addEvent(tx, 'pi-02'));
    expect(await eventCount(s)).toBe(1);
    await s.close();
  });

  it('runs a statement issued while a transaction awaits after it ends, never inside it', async () => {
    const s = await openSqliteStore(file());
    const g = gate();
    const tx = s.transaction(async (q) => {
      await addEvent(q, 'in-tx');
      await g.wait;
      throw new Error('rolled back');
    });
    // Issued while the transaction holds the connection: on a shared connection without the
    // queue it would run inside the transaction and vanish with its rollback.
    const outside = addEvent(s, 'outside');
    const read = s.all<{ node: string }>('SELECT node FROM events ORDER BY id');
    g.open();
    await expect(tx).rejects.toThrow('rolled back');
    await outside;
    expect(await read).toEqual([{ node: 'outside' }]);
    await s.close();
  });

  it('serializes transactions: the second starts when the first has committed', async () => {
    const s = await openSqliteStore(file());
    const order: string[] = [];
    const g = gate();
    const first = s.transaction(async (q) => {
      order.push('first begins');
      await g.wait;
      await addEvent(q, 'first');
      order.push('first ends');
    });
    const second = s.transaction(async (q) => {
      order.push('second begins');
      await addEvent(q, 'second');
    });
    await new Promise((r) => setTimeout(r, 10));
    g.open();
    await Promise.all([first, second]);
    expect(order).toEqual(['first begins', 'first ends', 'second begins']);
    await s.close();
  });

  it('refuses the store itself inside its own transaction instead of waiting for it forever', async () => {
    const s = await openSqliteStore(file());
    await expect(s.transaction(async () => eventCount(s))).rejects.toThrow(/inside its own transaction/);
    await expect(s.transaction(async () => s.transaction(async () => 1))).rejects.toThrow(/inside its own transaction/);
    // and the refusal left nothing held
    expect(await eventCount(s)).toBe(0);
    await s.close();
  });

  it('refuses a transaction handle kept past its end', async () => {
    const s = await openSqliteStore(file());
    let kept: SqlQueries | undefined;
    await s.transaction(async (tx) => {
      kept = tx;
    });
    await expect(addEvent(kept as SqlQueries, 'late')).rejects.toThrow(/after it ended/);
    expect(await eventCount(s)).toBe(0);
    await s.close();
  });

  it('closes after the transaction under way, and refuses statements once closed', async () => {
    const s = await openSqliteStore(file());
    const g = gate();
    const tx = s.transaction(async (q) => {
      await g.wait;
      await addEvent(q, 'pi-01');
    });
    const closed = s.close();
    g.open();
    await tx;
    await closed;
    await expect(eventCount(s)).rejects.toThrow(/closed/);
  });

  it('stamps its schema version on a new database and on one from before versioning', async () => {
    const f = file();
    const s = await openSqliteStore(f);
    expect(await s.schemaVersion()).toBe(SQLITE_SCHEMA_VERSION);
    await s.close();
    const raw = new Database(f);
    raw.pragma('user_version = 0');
    raw.close();
    const again = await openSqliteStore(f);
    expect(await again.schemaVersion()).toBe(SQLITE_SCHEMA_VERSION);
    await again.close();
  });

  it('refuses a database made by a newer kiln', async () => {
    const f = file();
    await (await openSqliteStore(f)).close();
    const raw = new Database(f);
    raw.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    raw.close();
    await expect(openSqliteStore(f)).rejects.toThrow(new RegExp(`schema version ${SQLITE_SCHEMA_VERSION + 1}.*upgrade kiln`));
  });
});
