import Database from 'better-sqlite3';
import { AsyncLocalStorage } from 'node:async_hooks';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { KilnError } from '../../../util/errors.js';
import { migrateSqlite } from './sqlite-schema.js';
import type { SqlQueries, SqlRunResult, SqlStore, SqlValue } from './sql.js';

// The embedded backend: one better-sqlite3 connection in the state dir. better-sqlite3 is
// synchronous, but a transaction's callback is async: while it awaits, other code of this process
// could run statements on the same connection, inside that transaction. So every use of the
// connection (transactions and single statements alike) takes turns through one in-process queue.
// Other processes (`kiln node` beside `kiln serve`) are kept apart by SQLite's own locks.

export interface SqliteStore extends SqlStore {
  readonly kind: 'sqlite';
  /** The durability settings in force on this connection (logged at start-up, checked by tests). */
  settings(): Promise<{ journalMode: string; synchronous: number }>;
}

export function isSqliteStore(s: SqlStore): s is SqliteStore {
  return s.kind === 'sqlite' && 'settings' in s;
}

/** Runs tasks one at a time, in the order they were queued; a failed task does not stop the queue. */
class Turns {
  private tail: Promise<unknown> = Promise.resolve();

  take<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Marks the async context of a running transaction, to refuse the store's own calls from inside it. */
const inTransaction = new AsyncLocalStorage<{ open: boolean }>();

class SqliteStoreImpl implements SqliteStore {
  readonly kind = 'sqlite';
  private readonly turns = new Turns();
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.direct(() => this.prepared(sql).all(...params) as T[]);
  }

  get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.direct(() => this.prepared(sql).get(...params) as T | undefined);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<SqlRunResult> {
    return this.direct(() => ({ changes: this.prepared(sql).run(...params).changes }));
  }

  transaction<T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T> {
    try {
      this.refuseNested();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.turns.take(async () => {
      this.mustBeOpen();
      // IMMEDIATE takes the write lock now, not at the first write: two processes never both read
      // and then fail to upgrade (SQLITE_BUSY mid-transaction), and event ids commit in id order.
      this.db.exec('BEGIN IMMEDIATE');
      const scope = { open: true };
      try {
        const result = await inTransaction.run(scope, () => fn(this.queriesWhile(scope)));
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        // SQLite may have rolled back already (e.g. on SQLITE_FULL); a second ROLLBACK would throw.
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      } finally {
        scope.open = false;
      }
    });
  }

  schemaVersion(): Promise<number> {
    return this.direct(() => Number(this.db.pragma('user_version', { simple: true })));
  }

  settings(): Promise<{ journalMode: string; synchronous: number }> {
    return this.direct(() => ({
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
    }));
  }

  /** Waits for what is queued (a transaction under way commits or rolls back first), then closes. */
  close(): Promise<void> {
    return this.turns.take(() => {
      if (this.db.open) this.db.close();
    });
  }

  /** Statements on the connection while `scope` is the open transaction; unusable once it ends. */
  private queriesWhile(scope: { open: boolean }): SqlQueries {
    const live = <T>(f: () => T): Promise<T> => {
      // A callback that kept `tx` past its transaction would write outside it, unseen.
      if (!scope.open) return Promise.reject(new KilnError('a transaction was used after it ended'));
      try {
        return Promise.resolve(f());
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return {
      all: <T>(sql: string, params: readonly SqlValue[] = []) => live(() => this.prepared(sql).all(...params) as T[]),
      get: <T>(sql: string, params: readonly SqlValue[] = []) => live(() => this.prepared(sql).get(...params) as T | undefined),
      run: (sql: string, params: readonly SqlValue[] = []) => live(() => ({ changes: this.prepared(sql).run(...params).changes })),
    };
  }

  private direct<T>(f: () => T): Promise<T> {
    try {
      this.refuseNested();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.turns.take(() => {
      this.mustBeOpen();
      return f();
    });
  }

  /** The store itself, called inside one of its transactions, would wait for that transaction forever. */
  private refuseNested(): void {
    if (inTransaction.getStore()?.open) throw new KilnError('the registry store was called inside its own transaction: use the `tx` given');
  }

  private mustBeOpen(): void {
    if (!this.db.open) throw new KilnError('the registry database is closed');
  }

  /**
   * Prepared once per SQL text: the DHCP and TFTP paths run the same few statements per packet.
   * The registry's SQL texts are a fixed set (parameters are never spliced in), so this stays small.
   */
  private prepared(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}

/** Opens (creating or upgrading) the registry database at `path`; ':memory:' for a throwaway one. */
export async function openSqliteStore(path: string): Promise<SqliteStore> {
  // Report tokens and credential hashes live in this file: a new state dir is private, the database 0600.
  if (path !== ':memory:' && !existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path);
  try {
    if (path !== ':memory:') chmodSync(path, 0o600);
    // WAL lets `kiln node ...` change the registry while `kiln serve` reads it.
    db.pragma('journal_mode = WAL');
    // WAL's default (NORMAL) syncs only at checkpoints, so a power cut can drop changes that were
    // already acknowledged (an `installed` report, a registration): FULL syncs the WAL at every
    // commit. Per connection, so `kiln node` gets it too.
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    // Rows hold credential hashes and install tokens: what is deleted or overwritten is zeroed on disk.
    db.pragma('secure_delete = ON');
    migrateSqlite(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteStoreImpl(db);
}
