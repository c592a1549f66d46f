import { describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { StoreUnreachableError, type SqlStore } from '../../../src/serve/nodes/store/sql.js';
import { openSqliteStore } from '../../../src/serve/nodes/store/sqlite.js';

// Activity events (dhcp-seen, file-fetched) written while the store is unreachable: kept in a
// bounded buffer and written once it answers, the rest dropped and counted. The store is a real
// SQLite one behind a switch that makes it fail the way an unreachable PostgreSQL does.

interface Switchable {
  store: SqlStore;
  down: boolean;
  /** Makes the next write transaction fail with a statement's own error (not unreachability). */
  refuseNext: boolean;
}

async function switchable(): Promise<Switchable> {
  const real = await openSqliteStore(':memory:');
  const s: Switchable = {
    down: false,
    refuseNext: false,
    store: {
      kind: real.kind,
      all: (sql, p) => (s.down ? Promise.reject(new StoreUnreachableError('store down')) : real.all(sql, p)),
      get: (sql, p) => (s.down ? Promise.reject(new StoreUnreachableError('store down')) : real.get(sql, p)),
      run: (sql, p) => (s.down ? Promise.reject(new StoreUnreachableError('store down')) : real.run(sql, p)),
      transaction: (fn) => {
        if (s.down) return Promise.reject(new StoreUnreachableError('store down'));
        if (s.refuseNext) {
          s.refuseNext = false;
          return Promise.reject(new Error('CHECK constraint failed'));
        }
        return real.transaction(fn);
      },
      schemaVersion: () => real.schemaVersion(),
      close: () => real.close(),
    },
  };
  return s;
}

async function open(opts: { buffer?: number } = {}) {
  const sw = await switchable();
  const clock = { t: Date.parse('2025-01-01T00:00:00Z') };
  const dropped: { rows: number; why: string }[] = [];
  const r = await NodeRegistry.open(sw.store, {
    now: () => new Date(clock.t),
    activityWindowMs: 1000,
    activityBuffer: opts.buffer,
    onActivityDropped: (rows, why) => dropped.push({ rows, why }),
  });
  for (const name of ['pi-01', 'pi-02', 'pi-03']) await r.upsert(nodeInputSchema.parse({ name, mac: `dc:a6:32:00:00:0${name.at(-1)}` }));
  return { r, sw, clock, dropped };
}

const activityOf = async (r: NodeRegistry) =>
  (await r.events({ limit: 1000 }))
    .filter((e) => e.type === 'dhcp-seen' || e.type === 'file-fetched')
    .map((e) => ({ node: e.node, type: e.type, data: e.data }));

describe('activity events while the store is unreachable', () => {
  it('keeps what fails to write and writes it, in order and once, when the store answers again', async () => {
    const { r, sw, clock, dropped } = await open();
    expect(await r.activity('pi-01', 'dhcp-seen', { mac: 'a' }, { source: 'a' })).toBe('written');
    sw.down = true;
    clock.t += 5000;
    expect(await r.activity('pi-02', 'dhcp-seen', { mac: 'b' }, { source: 'b' })).toBe('buffered');
    expect(await r.activity('pi-02', 'dhcp-seen', { mac: 'b' }, { source: 'b' })).toBe('folded');
    expect(await r.activity('pi-03', 'file-fetched', { path: 'start4.elf' }, { key: 'start4.elf' })).toBe('buffered');
    clock.t += 1000;
    // the periodic flush fails too: pi-02's summary joins the buffer, nothing is lost or thrown
    expect(await r.flushActivity()).toBe(1);
    expect(r.activityBuffered).toBe(3);

    sw.down = false;
    clock.t += 100;
    expect(await r.flushActivity()).toBe(0);
    expect(r.activityBuffered).toBe(0);
    const rows = await activityOf(r);
    expect(rows.map((x) => [x.node, x.type, x.data.count])).toEqual([
      ['pi-01', 'dhcp-seen', 1],
      ['pi-02', 'dhcp-seen', 1],
      ['pi-03', 'file-fetched', 1],
      ['pi-02', 'dhcp-seen', 1],
    ]);
    // the time each was meant to be written (its `at` is when it was)
    expect(rows[0]?.data.queuedAt).toBeUndefined();
    expect(rows.slice(1).map((x) => x.data.queuedAt)).toEqual(['2025-01-01T00:00:05.000Z', '2025-01-01T00:00:05.000Z', '2025-01-01T00:00:06.000Z']);
    expect(dropped).toEqual([]);
    // written once: another flush adds nothing
    await r.flushActivity();
    expect(await activityOf(r)).toHaveLength(4);
    await r.close();
  });

  it('bounds the buffer: beyond it the newest rows are dropped and counted, the oldest kept', async () => {
    const { r, sw, clock, dropped } = await open({ buffer: 2 });
    sw.down = true;
    for (const [i, n] of ['pi-01', 'pi-02', 'pi-03'].entries()) {
      clock.t += 10;
      expect(await r.activity(n, 'dhcp-seen', { mac: String(i) })).toBe('buffered');
    }
    expect(r.activityBuffered).toBe(2);
    expect(dropped).toEqual([{ rows: 1, why: 'buffer-full' }]);
    sw.down = false;
    await r.flushActivity();
    expect((await activityOf(r)).map((x) => x.node)).toEqual(['pi-01', 'pi-02']);
    await r.close();
  });

  it('a write the store refuses (not unreachable) is dropped, counted and thrown, and does not block later writes', async () => {
    const { r, sw, dropped } = await open();
    sw.down = true;
    expect(await r.activity('pi-01', 'dhcp-seen', { mac: 'a' })).toBe('buffered');
    sw.down = false;
    sw.refuseNext = true;
    await expect(r.activity('pi-02', 'dhcp-seen', { mac: 'b' })).rejects.toThrow('CHECK constraint failed');
    expect(dropped).toEqual([{ rows: 2, why: 'refused' }]);
    expect(await r.activity('pi-03', 'dhcp-seen', { mac: 'c' })).toBe('written');
    expect((await activityOf(r)).map((x) => x.node)).toEqual(['pi-03']);
    await r.close();
  });

  it('what is still buffered when the registry closes is counted as dropped, and close still closes', async () => {
    const { r, sw, dropped } = await open();
    sw.down = true;
    await r.activity('pi-01', 'dhcp-seen', { mac: 'a' });
    await r.activity('pi-01', 'dhcp-seen', { mac: 'a' });
    await r.close();
    // the first row, and the folded one drained at close
    expect(dropped).toEqual([{ rows: 2, why: 'closing' }]);
  });
});
