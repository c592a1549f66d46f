import { join } from 'node:path';
import { KilnError } from '../../../util/errors.js';
import { describeStore, openPostgresStore } from './postgres.js';
import { storeKindOf, type SqlStore } from './sql.js';
import { openSqliteStore } from './sqlite.js';

// Which store a command works on: the embedded SQLite file in the state dir (the default), or a
// PostgreSQL database shared by serving agents (`--store postgres://…`, or $KILN_STORE).

export function registryPath(stateDir: string): string {
  return join(stateDir, 'kiln.db');
}

export function storeKind(store: string | undefined): 'sqlite' | 'postgres' {
  const kind = storeKindOf(store);
  if (kind) return kind;
  throw new KilnError(`--store ${JSON.stringify(String(store).replace(/\/\/[^@/]*@/, '//***@'))}: expected "sqlite" or a postgres:// URL`);
}

export async function openStore(o: { stateDir: string; store?: string }): Promise<SqlStore> {
  return storeKind(o.store) === 'postgres' ? openPostgresStore(o.store as string) : openSqliteStore(registryPath(o.stateDir));
}

/** Where the store lives, for logs: the file, or the URL without its password. */
export function storeLabel(o: { stateDir: string; store?: string }): string {
  return storeKind(o.store) === 'postgres' ? describeStore(o.store as string) : registryPath(o.stateDir);
}
