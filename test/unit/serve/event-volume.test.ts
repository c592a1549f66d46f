import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeConfig } from '../../../src/serve/config.js';
import { ActivityAggregator, parseRetention, showRetention, TokenBucket } from '../../../src/serve/nodes/activity.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry, type RegistryOptions } from '../../../src/serve/nodes/registry.js';
import { tempDir } from '../../helpers/tmp.js';
import { writeHistory } from '../../shared/registry-suite.js';

// The aggregation and retention pieces on their own; the registry's event volume and retention run
// on every store in test/shared/registry-suite.ts.

/** A registry on a file (so a second connection can try raw SQL) with a hand-driven clock. */
async function open(opts: RegistryOptions = {}): Promise<{ r: NodeRegistry; file: string; clock: { t: number } }> {
  const d = tempDir('events');
  const clock = { t: Date.parse('2025-01-01T00:00:00Z') };
  const file = join(d, 'kiln.db');
  return { r: await openSqliteRegistry(file, { now: () => new Date(clock.t), ...opts }), file, clock };
}

describe('ActivityAggregator', () => {
  it('writes the first occurrence at once, folds the rest of the window into one row with their count', async () => {
    const a = new ActivityAggregator(60_000);
    const seen = (t: number, mac: string) => a.offer({ node: 'pi-01', type: 'dhcp-seen', data: { mac }, source: mac }, t);
    expect(seen(0, 'm0')).toEqual([{ node: 'pi-01', type: 'dhcp-seen', data: { mac: 'm0', count: 1 } }]);
    for (let i = 1; i <= 500; i++) expect(seen(i * 100, `m${i % 20}`)).toEqual([]);
    expect(a.due(59_999)).toEqual([]);
    const [row, ...rest] = a.due(60_000);
    expect(rest).toEqual([]);
    expect(row?.data).toMatchObject({
      count: 500,
      mac: 'm0',
      first: new Date(100).toISOString(),
      last: new Date(50_000).toISOString(),
      fromOtherSources: 500 - 8 * 25,
    });
    expect(row?.data.sources).toHaveLength(8);
    // the summary opened a new window: a steady flood writes one row per window, not two
    expect(seen(60_001, 'm1')).toEqual([]);
    expect(a.due(120_000)).toEqual([expect.objectContaining({ data: expect.objectContaining({ count: 1 }) })]);
    expect(a.due(180_000)).toEqual([]);
    expect(a.drain()).toEqual([]);
  });

  it('keeps separate windows per node, type and key, and carries a late summary in the next row', async () => {
    const a = new ActivityAggregator(1000);
    const fetched = (t: number, path: string) => a.offer({ node: 'pi-01', type: 'file-fetched', data: { path }, key: path }, t);
    expect(fetched(0, 'start4.elf')).toHaveLength(1);
    expect(fetched(1, 'fixup4.dat')).toHaveLength(1);
    expect(fetched(2, 'start4.elf')).toEqual([]);
    // window over but `due` not run yet: this row stands for both
    expect(fetched(1500, 'start4.elf')).toEqual([{ node: 'pi-01', type: 'file-fetched', data: expect.objectContaining({ path: 'start4.elf', count: 2 }) }]);
    expect(a.drain()).toEqual([]);
  });

  it('bounds its memory by writing out the oldest window', async () => {
    const a = new ActivityAggregator(60_000, 2);
    a.offer({ node: 'a', type: 'dhcp-seen', data: {} }, 0);
    a.offer({ node: 'a', type: 'dhcp-seen', data: {} }, 1);
    a.offer({ node: 'b', type: 'dhcp-seen', data: {} }, 2);
    const out = a.offer({ node: 'c', type: 'dhcp-seen', data: {} }, 3);
    expect(out.map((w) => [w.node, w.data.count])).toEqual([
      ['a', 1],
      ['c', 1],
    ]);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the rate', async () => {
    const b = new TokenBucket(3, 6, 0);
    expect([0, 0, 0, 0].map(() => b.take(0))).toEqual([true, true, true, false]);
    expect(b.take(9_999)).toBe(false);
    expect(b.take(10_000)).toBe(true);
  });
});

describe('--event-retention', () => {
  it('takes a duration, a count or forever, and names the field otherwise', async () => {
    expect(parseRetention('30d')).toEqual({ kind: 'age', ms: 30 * 86_400_000 });
    expect(parseRetention('12h')).toEqual({ kind: 'age', ms: 12 * 3_600_000 });
    expect(parseRetention('100000events')).toEqual({ kind: 'count', events: 100_000 });
    expect(parseRetention('forever')).toEqual({ kind: 'forever' });
    for (const bad of ['30', '0d', '-1d', '1.5d', '30 d', 'd', '1y', '0events', 'all']) expect(parseRetention(bad), bad).toBeUndefined();
    expect(showRetention({ kind: 'age', ms: 14 * 86_400_000 })).toBe('2w');
    const base = { stateDir: 's', imagesDir: 'd', templatesDir: 't' };
    expect(parseServeConfig(base).eventRetention).toEqual({ kind: 'age', ms: 30 * 86_400_000 });
    expect(() => parseServeConfig({ ...base, eventRetention: '30' })).toThrow(
      /^invalid serve settings: eventRetention: expected a duration like 30d, 12h, 90m or 2w; a count like 100000events; or forever, got "30"$/,
    );
  });
});

// SQLite only: raw SQL on the database file behind the registry, and triggers of an older SQLite
// database (the PostgreSQL triggers are tested in test/integration/store/postgres-store.test.ts).
describe('event retention on SQLite', () => {
  async function history() {
    const o = await open();
    await writeHistory(o.r, o.clock);
    return o;
  }

  it('leaves the log append-only for everything else, including raw SQL on the file', async () => {
    const { r, file } = await history();
    await r.close();
    const raw = new Database(file);
    expect(() => raw.prepare("DELETE FROM events WHERE type = 'dhcp-seen'").run()).toThrow(/append-only/);
    expect(() => raw.prepare("UPDATE events SET data = '{}'").run()).toThrow(/append-only/);
    // even with the gate forced open, a state change cannot be deleted
    raw.prepare('UPDATE retention_gate SET open = 1').run();
    expect(() => raw.prepare("DELETE FROM events WHERE type = 'installed'").run()).toThrow(/append-only/);
    raw.prepare('UPDATE retention_gate SET open = 0').run();
    raw.close();
  });

  it('replaces the unconditional trigger of an older database', async () => {
    const { r, file } = await open();
    await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    await r.close();
    const raw = new Database(file);
    raw.exec(
      "DROP TRIGGER events_delete_by_retention_v1; CREATE TRIGGER events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
    );
    raw.close();
    const again = await openSqliteRegistry(file);
    await again.activity('pi-01', 'dhcp-seen', {}, {});
    expect(await again.pruneEvents({ kind: 'count', events: 1 })).toBe(0);
    expect(await again.pruneEvents({ kind: 'age', ms: 0 })).toBe(1);
    await again.close();
    const check = new Database(file);
    const triggers = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    expect(triggers).toEqual(['events_append_only_u', 'events_delete_by_retention_v1']);
    check.close();
  });
});
