import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { tempDir } from '../../helpers/tmp.js';

// The registry side of the dashboard's node actions (settings, unpark, approve, install progress)
// runs on every store in test/shared/registry-suite.ts; here, what only an older SQLite file has.

const input = (o: Record<string, unknown>) => nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd', ...o });

describe('per-node settings on SQLite', () => {
  it('gives a database made before the column its config_txt on open', async () => {
    const file = join(tempDir('node-actions'), 'kiln.db');
    let r = await openSqliteRegistry(file);
    await r.upsert(input({}));
    await r.close();
    const raw = new Database(file);
    raw.exec('ALTER TABLE nodes DROP COLUMN config_txt');
    raw.close();
    r = await openSqliteRegistry(file);
    expect((await r.mustGet('pi-01')).configTxt).toEqual([]);
    expect((await r.updateSettings('pi-01', { configTxt: ['gpu_mem=16'] })).configTxt).toEqual(['gpu_mem=16']);
    await r.close();
  });
});
