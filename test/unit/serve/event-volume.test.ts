import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeConfig } from '../../../src/serve/config.js';
import { ActivityAggregator, parseRetention, showRetention, TokenBucket } from '../../../src/serve/nodes/activity.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type DiscoveryResult, type NodeRegistry, type RegistryOptions } from '../../../src/serve/nodes/registry.js';
import { tempDir } from '../../helpers/tmp.js';

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

describe('event volume from unauthenticated traffic', () => {
  it('writes at most one dhcp-seen per node per window, and the counts add up', async () => {
    const { r, clock } = await open({ activityWindowMs: 60_000 });
    await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    const results: string[] = [];
    for (let i = 0; i < 1000; i++) {
      clock.t += 10;
      results.push(await r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:00:00:01' }, { source: `02:00:00:00:${String(i % 50).padStart(2, '0')}:00` }));
    }
    expect(results.filter((x) => x === 'written')).toHaveLength(1);
    clock.t += 60_000;
    expect(await r.flushActivity()).toBe(1);
    const seen = (await r.events({ node: 'pi-01' })).filter((e) => e.type === 'dhcp-seen');
    expect(seen.map((e) => e.data.count)).toEqual([1, 999]);
    await r.close();
  });

  it('refreshes last_seen at most every 10 s (a flood of requests naming a node is not a write each), and binds no address', async () => {
    const { r, clock } = await open();
    await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    await r.seen('pi-01');
    const first = (await r.mustGet('pi-01')).lastSeen;
    expect(first).not.toBeNull();
    clock.t += 5_000;
    await r.seen('pi-01');
    expect(await r.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: first });
    clock.t += 5_001;
    await r.seen('pi-01');
    expect(await r.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: new Date(clock.t).toISOString() });
    await r.close();
  });

  it('writes what is still aggregating when closed', async () => {
    const { r, file } = await open();
    await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    for (let i = 0; i < 5; i++) await r.activity('pi-01', 'file-fetched', { path: 'start4.elf' }, { key: 'start4.elf' });
    await r.close();
    const again = await openSqliteRegistry(file);
    expect((await again.events({ node: 'pi-01' })).filter((e) => e.type === 'file-fetched').map((e) => e.data.count)).toEqual([1, 4]);
    await again.close();
  });

  it('creates a bounded number of discovered nodes at a bounded rate, refusing the rest', async () => {
    const { r, clock } = await open({ discovery: { max: 5, burst: 3, perMinute: 2 } });
    const mac = (i: number) => `dc:a6:32:ff:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`;
    const first: DiscoveryResult[] = [];
    for (let i = 0; i < 10; i++) first.push(await r.recordDiscovered(mac(i), undefined, null));
    expect(first.map((x) => ('refused' in x ? x.refused : 'ok'))).toEqual(['ok', 'ok', 'ok', ...Array(7).fill('rate')]);
    // a known one is only refreshed, never refused
    expect(await r.recordDiscovered(mac(0), undefined, null)).toMatchObject({ created: false });
    clock.t += 30_000;
    expect(await r.recordDiscovered(mac(20), undefined, null)).toMatchObject({ created: true });
    clock.t += 600_000;
    const later: DiscoveryResult[] = [];
    for (let i = 0; i < 5; i++) later.push(await r.recordDiscovered(mac(30 + i), undefined, null));
    expect(later.map((x) => ('refused' in x ? x.refused : 'ok'))).toEqual(['ok', 'limit', 'limit', 'limit', 'limit']);
    expect((await r.list()).filter((n) => n.plan === 'discovered')).toHaveLength(5);
    expect((await r.events({ limit: 1000 })).filter((e) => e.type === 'discovered')).toHaveLength(5);
    await r.close();
  });
});

describe('event retention', () => {
  /** Two nodes with a history: state changes spread over 90 days, activity every day. */
  async function history(opts: RegistryOptions = {}) {
    const o = await open(opts);
    const { r, clock } = o;
    await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    await r.recordDiscovered('dc:a6:32:ff:00:01', undefined, null);
    for (let day = 0; day < 90; day++) {
      clock.t += 86_400_000;
      await r.activity('pi-01', 'dhcp-seen', { day }, {});
      await r.activity('pi-01', 'file-fetched', { day }, { key: 'start4.elf' });
      await r.record('pi-01', 'seed-fetched', { day });
      if (day % 30 === 0) {
        await r.record('pi-01', 'install-started');
        await r.record('pi-01', 'installed');
        await r.record('pi-01', 'first-boot');
        await r.record('pi-01', 'k3s-joined');
        await r.reprovision('pi-01');
      }
    }
    await r.selfHeal('pi-01', 'test');
    await r.park('pi-01', 'test');
    return o;
  }
  const stateChanges = async (r: NodeRegistry) =>
    (await r.events({ limit: 1000 })).filter((e) => !['dhcp-seen', 'file-fetched', 'seed-fetched', 'discovered'].includes(e.type));

  it('prunes activity older than the duration and keeps every state change', async () => {
    const { r } = await history();
    const kept = await stateChanges(r);
    expect(kept.map((e) => e.type)).toContain('registered');
    expect(kept).toHaveLength(1 + 3 * 5 + 2);
    const before = (await r.events({ limit: 1000 })).length;
    // day d is stamped d+1 days in, the clock ends at 90 days: days 0..58 are older than 30 days
    expect(await r.pruneEvents({ kind: 'age', ms: 30 * 86_400_000 })).toBe(59 * 3 + 1);
    expect(await r.events({ limit: 1000 })).toHaveLength(before - 59 * 3 - 1);
    expect(await stateChanges(r)).toEqual(kept);
    const activity = (await r.events({ limit: 1000 })).filter((e) => e.type === 'dhcp-seen');
    expect(activity.map((e) => e.data.day)).toEqual(Array.from({ length: 31 }, (_, i) => 59 + i));
    await r.close();
  });

  it('keeps the newest N activity events with a count, and nothing is pruned with forever', async () => {
    const { r } = await history();
    const kept = await stateChanges(r);
    expect(await r.pruneEvents({ kind: 'forever' })).toBe(0);
    await r.pruneEvents({ kind: 'count', events: 10 });
    const all = await r.events({ limit: 1000 });
    expect(all.length).toBe(kept.length + 10);
    expect(await stateChanges(r)).toEqual(kept);
    expect(await r.pruneEvents({ kind: 'count', events: 10 })).toBe(0);
    await r.close();
  });

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
