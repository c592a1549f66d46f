// The one boundary between the node registry's logic and the database engine under it. The
// registry is written once against these calls; SQLite (the embedded default) and PostgreSQL
// (shared by serving agents) each implement them. SQL text uses `?` placeholders and the subset of
// SQL both engines read the same way (RETURNING, IS DISTINCT FROM, NULLS LAST, ON CONFLICT);
// what differs (schema DDL, triggers, pragmas) stays inside each backend.

import { EXIT, KilnError } from '../../../util/errors.js';

/**
 * The store could not be reached (no connection, the server shutting down or restarting), as
 * opposed to a statement's own failure. Callers may retry it later (nothing was written, unless the
 * connection was lost during COMMIT: then it is unknown, and a retry may write it twice). The HTTP
 * API answers it with 503, the registry keeps activity events it could not write for later.
 */
export class StoreUnreachableError extends KilnError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.host });
  }
}

export function isStoreUnreachable(err: unknown): err is StoreUnreachableError {
  return err instanceof StoreUnreachableError;
}

/** Which engine `--store` names: undefined or "sqlite" the state dir's file, a postgres:// URL PostgreSQL; undefined: neither. */
export function storeKindOf(store: string | undefined): 'sqlite' | 'postgres' | undefined {
  if (store === undefined || store === '' || store === 'sqlite') return 'sqlite';
  return /^postgres(ql)?:\/\//.test(store) ? 'postgres' : undefined;
}

/** A bound parameter: text, a number (integers and booleans as 0/1), or NULL. */
export type SqlValue = string | number | null;

export interface SqlRunResult {
  /** Rows the statement inserted, updated or deleted. */
  changes: number;
}

/** Statements on one connection (inside a transaction: that transaction's). */
export interface SqlQueries {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<SqlRunResult>;
}

export interface SqlStore extends SqlQueries {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Runs `fn` as one write transaction, committed when it resolves and rolled back when it throws.
   * Write transactions are serialized against every other one on the same store, from any process
   * (SQLite: BEGIN IMMEDIATE; PostgreSQL: one transaction-scoped advisory lock), so event ids are
   * committed in id order and a reader resuming after an id never misses one committed later.
   * Not re-entrant: code inside uses the `tx` it is given, never the store.
   */
  transaction<T>(fn: (tx: SqlQueries) => Promise<T>): Promise<T>;
  /**
   * Calls `onChange` soon after any process commits a transaction on the store, until the returned
   * function is called. PostgreSQL: LISTEN/NOTIFY, so an agent's live streams hear another agent's
   * events without polling the database fast. Absent where the engine cannot tell (SQLite: the
   * readers poll the file).
   */
  watch?(onChange: () => void): Promise<() => Promise<void>>;
  /** The schema version applied (migrations run when the store opens). */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
