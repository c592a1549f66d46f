import { defaultStateDir } from '../serve/defaults.js';
import { NodeRegistry } from '../serve/nodes/registry.js';
import { openStore } from '../serve/nodes/store/open.js';
import type { SqlStore } from '../serve/nodes/store/sql.js';

// The registry options every command that reads or changes the registry shares: `--state-dir`
// (the SQLite file, the default store) and `--store` (a PostgreSQL database serving agents share).

export interface StoreFlags {
  stateDir: string;
  store?: string;
}

export const stateDirOption = ['--state-dir <dir>', 'state dir holding the SQLite registry ($KILN_STATE)', defaultStateDir()] as const;

export const storeOption = [
  '--store <url>',
  'registry store: "sqlite" (the file in --state-dir, the default) or postgres://user@host:port/db shared by serving agents; the password from PGPASSWORD or ~/.pgpass, never the URL ($KILN_STORE)',
  process.env.KILN_STORE,
] as const;

export async function withStore<T>(o: StoreFlags, fn: (s: SqlStore) => Promise<T>): Promise<T> {
  const s = await openStore(o);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export async function withRegistry<T>(o: StoreFlags, fn: (r: NodeRegistry) => Promise<T>): Promise<T> {
  const r = await NodeRegistry.open(await openStore(o));
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}
