import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { errorText, KilnError } from '../../../util/errors.js';
import { toPositional } from './placeholders.js';
import { applyMigrations, currentVersion } from './postgres-schema.js';
import { StoreUnreachableError, type SqlQueries, type SqlRunResult, type SqlStore, type SqlValue } from './sql.js';

// The registry on PostgreSQL (node-postgres), for serving agents that share one database.

/**
 * The advisory lock every write transaction takes, from every kiln process on the database (the
 * two-int form: 'kiln' in ASCII, then 1). Taking it first thing serializes write transactions
 * end to end, so an event id drawn from the sequence is committed before any id drawn after it:
 * without it two transactions can commit ids 8 and 7 in that order, and an SSE reader that
 * resumed after 8 would never see 7. The xact form releases it at COMMIT or ROLLBACK, also when
 * the connection dies. Migrations on open run under the same lock.
 */
const WRITE_LOCK = 'SELECT pg_advisory_xact_lock(1802071150, 1)';

/** Sent inside every write transaction; PostgreSQL delivers it to listeners only if it commits. */
const CHANNEL = 'kiln_registry';
const NOTIFY = `NOTIFY ${CHANNEL}`;
/** A lost LISTEN connection is re-opened after this long, doubling up to WATCH_RETRY_MAX_MS. */
const WATCH_RETRY_MS = 500;
const WATCH_RETRY_MAX_MS = 10_000;

/** SQLSTATE classes that mean the server or the connection, not the statement: 08 connection, 28 authorization, 3D no such database, 53 resources, 57P shutdown. */
const CONNECTION_STATES = /^(08|28|3D|53|57P)/;

export interface PostgresStoreOptions {
  /** Connections in the pool (default 10). */
  maxConnections?: number;
  /** How long a statement waits for a connection before it fails (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * How long a transaction may sit between statements before the server ends it (default 30 s):
   * a kiln that stops mid-transaction (frozen, cut off) would otherwise hold the write lock, and
   * every agent's writes with it, until TCP gives up on it (hours). Registry transactions run only
   * statements, milliseconds apart.
   */
  idleInTransactionMs?: number;
  /** Told when an idle pooled connection is lost (a restart of PostgreSQL); the pool replaces it. */
  log?: (message: string) => void;
  now?: () => Date;
}

/** A connection or server failure of the registry's PostgreSQL, naming the server but never the password. */
export class PostgresStoreError extends StoreUnreachableError {
  constructor(
    message: string,
    /** The driver's error code (ECONNREFUSED, a SQLSTATE), when it had one. */
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

interface Target {
  /** postgres://user@host:port/database: for messages and logs. */
  description: string;
  /** What must never appear in a message: the password, as written and decoded. */
  secrets: string[];
}

function target(url: string): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // not echoed: an unparseable URL may still hold a password
    throw new KilnError('the PostgreSQL URL does not parse (expected postgres://user:password@host:port/database)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new KilnError(`the PostgreSQL URL starts with ${u.protocol}// (expected postgres:// or postgresql://)`);
  }
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const user = decode(u.username);
  // a socket directory as the host is written percent-encoded (%2Frun%2Fpostgresql) or as ?host=,
  // which node-postgres lets win over the URL's own host and port: so does the description
  const host = u.searchParams.get('host') || decode(u.hostname) || 'localhost';
  const port = u.searchParams.get('port') || u.port || '5432';
  const database = decode(u.pathname.slice(1)) || user;
  const secrets = [u.password, decode(u.password), u.searchParams.get('password') ?? ''].filter((s) => s !== '');
  return { description: `postgres://${user ? `${user}@` : ''}${host}:${port}/${database}`, secrets: [url, ...secrets] };
}

/** The URL without its password (postgres://user@host:port/database), for logs and messages. */
export function describeStore(url: string): string {
  return target(url).description;
}

function redact(text: string, t: Target): string {
  // the whole URL first, then any password left on its own
  return t.secrets.reduce((s, secret) => s.replaceAll(secret, secret === t.secrets[0] ? t.description : '***'), text);
}

function messageOf(err: unknown): string {
  // Node's connect to "localhost" tries every address and rejects with an AggregateError, whose
  // own message is empty
  if (err instanceof AggregateError && !err.message) return err.errors.map(messageOf).join('; ');
  return errorText(err);
}

function codeOf(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return code;
  return err instanceof AggregateError ? err.errors.map(codeOf).find((c) => c !== undefined) : undefined;
}

/**
 * A statement's own failure (a constraint, a trigger's refusal, bad SQL) is rethrown as
 * PostgreSQL reported it, SQLSTATE and all. Anything about reaching the server becomes a
 * PostgresStoreError naming it: the driver's own error is dropped, not kept as the cause, so no
 * path leads from it to the connection settings.
 */
function storeError(err: unknown, t: Target, doing: string): Error {
  if (err instanceof pg.DatabaseError && !CONNECTION_STATES.test(err.code ?? '')) return err;
  return new PostgresStoreError(`PostgreSQL ${t.description}: ${doing} failed: ${redact(messageOf(err), t)}`, codeOf(err));
}

type Queryable = pg.Pool | pg.PoolClient;

/** `check` runs before every statement: it throws when the statement may not run there. */
function queriesOn(db: Queryable, t: Target, check: () => void): SqlQueries {
  const exec = async (sql: string, params: readonly SqlValue[] = []): Promise<pg.QueryResult> => {
    check();
    const { text, count } = toPositional(sql);
    if (count !== params.length) throw new Error(`internal: ${count} placeholders but ${params.length} parameters in: ${sql}`);
    try {
      return await db.query(text, [...params]);
    } catch (err) {
      throw storeError(err, t, 'a statement');
    }
  };
  return {
    all: async <T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> => (await exec(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> => (await exec(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly SqlValue[]): Promise<SqlRunResult> => ({ changes: (await exec(sql, params)).rowCount ?? 0 }),
  };
}

/**
 * int8 (event ids, COUNT(*)) as a JS number rather than node-postgres's default string, for this
 * pool only. Exact up to 2^53, which no event id reaches.
 */
function typeParsers(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));
  return types;
}

/**
 * Opens the registry's store on the PostgreSQL database at `url` and brings its schema up to
 * date. Refuses a database whose schema is newer than this kiln knows.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<SqlStore> {
  const t = target(url);
  const now = opts.now ?? (() => new Date());
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    application_name: 'kiln',
    idle_in_transaction_session_timeout: opts.idleInTransactionMs ?? 30_000,
    // notices a server that vanished without closing the connection (a cut network, a dead host)
    keepAlive: true,
    types: typeParsers(),
  });
  // An idle connection the server drops (a restart) is an 'error' on the pool, which would end the
  // process if nobody listened; the pool has already discarded it and connects anew on demand.
  pool.on('error', (err) => opts.log?.(`PostgreSQL ${t.description}: an idle connection was lost (${redact(messageOf(err), t)})`));

  // Write transactions queue here, in this process, before they take a connection: the write lock
  // lets one run at a time anyway, and ten waiting for it on ten pooled connections would leave
  // none for reads (which then time out waiting for one).
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const turn = queue.then(fn, fn);
    queue = turn.catch(() => undefined);
    return turn;
  };

  const withWriteLock = <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => oneAtATime(() => lockedTransaction(fn));

  const lockedTransaction = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw storeError(err, t, 'connecting');
    }
    // BEGIN, the lock and COMMIT fail only for want of the server; what `fn` throws is its own
    // (its statements' failures already went through storeError) and is rethrown as it is
    const control = async (sql: string): Promise<pg.QueryResult> => {
      try {
        return await client.query(sql);
      } catch (err) {
        throw storeError(err, t, sql.startsWith('SELECT') ? 'taking the write lock' : sql);
      }
    };
    // A checked-out client that loses its server (a restart mid-transaction) emits 'error', and
    // nobody else listens while it is ours: unheard, that ends the process. The statement waiting
    // on it fails anyway, so noting it is enough; such a client is closed, not pooled again.
    let broken = false;
    const onLost = (err: Error): void => {
      broken = true;
      opts.log?.(`PostgreSQL ${t.description}: the connection of a transaction was lost (${redact(messageOf(err), t)})`);
    };
    client.on('error', onLost);
    try {
      await control('BEGIN');
      await control(WRITE_LOCK);
      const result = await fn(client);
      // After a failed statement PostgreSQL refuses the rest of the transaction (the NOTIFY, with
      // 25P02) and answers COMMIT with ROLLBACK: code that caught that failure must not believe it wrote.
      const rolledBack = new KilnError('the transaction was rolled back: a statement inside it failed');
      try {
        await client.query(NOTIFY);
      } catch (err) {
        if (err instanceof pg.DatabaseError && err.code === '25P02') throw rolledBack;
        throw storeError(err, t, NOTIFY);
      }
      const end = await control('COMMIT');
      if (end.command !== 'COMMIT') throw rolledBack;
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.off('error', onLost);
      // a connection that was lost or could not even roll back is closed, not handed to the next caller
      client.release(broken);
    }
  };

  try {
    await withWriteLock((client) => applyMigrations(client, t.description, now));
  } catch (err) {
    await pool.end();
    // a refusal of kiln's own (schema too new, a migration refused) says what it is already; the
    // rest (lost connection, no permission to create tables) needs saying which database
    if (err instanceof KilnError) throw err;
    throw new PostgresStoreError(`PostgreSQL ${t.description}: opening the registry failed: ${redact(messageOf(err), t)}`, codeOf(err));
  }

  // SQLite has one connection, so a statement on the store inside a transaction is part of it; here
  // it would run on another connection, outside it, and a nested transaction would wait for the
  // write lock its caller holds. Both are bugs, refused at once rather than found under load. A
  // transaction's `tx` used after it ended would run on a connection some other caller now has.
  const current = new AsyncLocalStorage<{ open: boolean }>();
  const outside = (what: string) => (): void => {
    if (current.getStore()?.open) throw new Error(`internal: ${what} inside a transaction (use the tx it gives)`);
  };
  const transaction = async <T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T> => {
    outside('store.transaction')();
    const state = { open: true };
    const whileOpen = (): void => {
      if (!state.open) throw new Error("internal: a transaction's tx used after the transaction ended");
    };
    try {
      return await current.run(state, () => withWriteLock((client) => fn(queriesOn(client, t, whileOpen))));
    } finally {
      state.open = false;
    }
  };

  /**
   * One LISTEN connection per watcher, outside the pool (it stays checked out for as long as it
   * listens). Lost (a restart, a partition), it is re-opened with a growing pause, and `onChange`
   * is called once it is back: notifications sent meanwhile went nowhere, so the reader re-reads.
   */
  const watch = async (onChange: () => void): Promise<() => Promise<void>> => {
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    let pause = WATCH_RETRY_MS;
    // The first connection's failure is the caller's (thrown); only later losses are retried here.
    let listening = false;
    const connect = async (): Promise<void> => {
      const c = new pg.Client({
        connectionString: url,
        application_name: 'kiln-watch',
        keepAlive: true,
        connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      });
      let lost = false;
      const onLost = (err?: Error): void => {
        if (lost) return;
        lost = true;
        if (client === c) client = undefined;
        c.end().catch(() => undefined);
        if (stopped || !listening) return;
        if (err) opts.log?.(`PostgreSQL ${t.description}: the LISTEN connection was lost (${redact(messageOf(err), t)}); re-opening it`);
        retry = setTimeout(() => void connect().catch(() => undefined), pause);
        retry.unref();
        pause = Math.min(pause * 2, WATCH_RETRY_MAX_MS);
      };
      c.on('error', onLost);
      c.on('end', () => onLost());
      c.on('notification', () => onChange());
      try {
        await c.connect();
        await c.query(`LISTEN ${CHANNEL}`);
      } catch (err) {
        onLost(err instanceof Error ? err : new Error(String(err)));
        throw storeError(err, t, 'listening for changes');
      }
      if (stopped) {
        await c.end().catch(() => undefined);
        return;
      }
      client = c;
      listening = true;
      pause = WATCH_RETRY_MS;
      onChange();
    };
    await connect();
    return async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => undefined);
    };
  };

  let closed = false;
  return {
    kind: 'postgres',
    ...queriesOn(pool, t, outside('a statement on the store')),
    transaction,
    watch,
    schemaVersion: async () => {
      try {
        return await currentVersion(pool);
      } catch (err) {
        throw storeError(err, t, 'reading the schema version');
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
