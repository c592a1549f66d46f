import { afterAll, beforeAll, vi } from 'vitest';
import { NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { openPostgresStore } from '../../../src/serve/nodes/store/postgres.js';
import { type PgServer, startPostgres } from '../../helpers/postgres.js';
import { registrySuite } from '../../shared/registry-suite.js';

// The registry's behaviour (test/shared/registry-suite.ts, run on SQLite by the unit project) on a
// real PostgreSQL: one server for the file, a new database per test so no test sees another's
// nodes, events or event ids.

// The slowest test takes seconds: a hang fails in a minute, not the integration project's hour.
vi.setConfig({ testTimeout: 60_000 });

let server: PgServer;
beforeAll(async () => {
  server = await startPostgres({ durable: false });
  // Each test's database is a copy of one migrated here once: a copy takes a third of the time of
  // creating and migrating one, and every test still starts on an empty registry of its own.
  const store = await openPostgresStore(await server.createDatabase('migrated'));
  await store.close();
});
afterAll(async () => {
  await server?.destroy();
});

let databases = 0;
registrySuite('PostgreSQL', async () => {
  databases += 1;
  const url = await server.createDatabase(`suite${databases}`, { template: 'migrated' });
  return { open: async (opts) => NodeRegistry.open(await openPostgresStore(url), opts), sql: () => openPostgresStore(url) };
});
