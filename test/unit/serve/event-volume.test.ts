import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeConfig } from '../../../src/serve/config.js';
import { ActivityAggregator, parseRetention, showRetention, TokenBucket } from '../../../src/serve/nodes/activity.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { NodeRegistry, type RegistryOptions } from '../../../src/serve/nodes/registry.js';
import { tempDir } from '../../helpers/tmp.js';

/** A registry on a file (so a second connection can try raw SQL) with a hand-driven clock. */
function open(opts: RegistryOptions = {}): { r: NodeRegistry; file: string; clock: { t: number } } {
  const d = tempDir('events');
  const clock = { t: Date.parse('2025-01-01T00:00:00Z') };
  const file = join(d, 'kiln.db');
  return { r: new NodeRegistry(file, { now: () => new Date(clock.t), ...opts }), file, clock };
}

describe('ActivityAggregator', () => {
  it('writes the first occurrence at once, folds the rest of the window into one row with their count', () => {
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

  it('keeps separate windows per node, type and key, and carries a late summary in the next row', () => {
    const a = new ActivityAggregator(1000);
    const fetched = (t: number, path: string) => a.offer({ node: 'pi-01', type: 'file-fetched', data: { path }, key: path }, t);
    expect(fetched(0, 'start4.elf')).toHaveLength(1);
    expect(fetched(1, 'fixup4.dat')).toHaveLength(1);
    expect(fetched(2, 'start4.elf')).toEqual([]);
    // window over but `due` not run yet: this row stands for both
    expect(fetched(1500, 'start4.elf')).toEqual([{ node: 'pi-01', type: 'file-fetched', data: expect.objectContaining({ path: 'start4.elf', count: 2 }) }]);
    expect(a.drain()).toEqual([]);
  });

  it('bounds its memory by writing out the oldest window', () => {
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
  it('allows a burst, then the rate', () => {
    const b = new TokenBucket(3, 6, 0);
    expect([0, 0, 0, 0].map(() => b.take(0))).toEqual([true, true, true, false]);
    expect(b.take(9_999)).toBe(false);
    expect(b.take(10_000)).toBe(true);
  });
});

describe('--event-retention', () => {
  it('takes a duration, a count or forever, and names the field otherwise', () => {
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
  it('writes at most one dhcp-seen per node per window, and the counts add up', () => {
    const { r, clock } = open({ activityWindowMs: 60_000 });
    r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    const results = Array.from({ length: 1000 }, (_, i) => {
      clock.t += 10;
      return r.activity('pi-01', 'dhcp-seen', { mac: 'dc:a6:32:00:00:01' }, { source: `02:00:00:00:${String(i % 50).padStart(2, '0')}:00` });
    });
    expect(results.filter((x) => x === 'written')).toHaveLength(1);
    clock.t += 60_000;
    expect(r.flushActivity()).toBe(1);
    const seen = r.events({ node: 'pi-01' }).filter((e) => e.type === 'dhcp-seen');
    expect(seen.map((e) => e.data.count)).toEqual([1, 999]);
    r.close();
  });

  it('refreshes last_seen at most every 10 s (a flood of requests naming a node is not a write each), and binds no address', () => {
    const { r, clock } = open();
    r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    r.seen('pi-01');
    const first = r.mustGet('pi-01').lastSeen;
    expect(first).not.toBeNull();
    clock.t += 5_000;
    r.seen('pi-01');
    expect(r.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: first });
    clock.t += 5_001;
    r.seen('pi-01');
    expect(r.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: new Date(clock.t).toISOString() });
    r.close();
  });

  it('writes what is still aggregating when closed', () => {
    const { r, file } = open();
    r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    for (let i = 0; i < 5; i++) r.activity('pi-01', 'file-fetched', { path: 'start4.elf' }, { key: 'start4.elf' });
    r.close();
    const again = new NodeRegistry(file);
    expect(
      again
        .events({ node: 'pi-01' })
        .filter((e) => e.type === 'file-fetched')
        .map((e) => e.data.count),
    ).toEqual([1, 4]);
    again.close();
  });

  it('creates a bounded number of discovered nodes at a bounded rate, refusing the rest', () => {
    const { r, clock } = open({ discovery: { max: 5, burst: 3, perMinute: 2 } });
    const mac = (i: number) => `dc:a6:32:ff:${String(Math.floor(i / 100)).padStart(2, '0')}:${String(i % 100).padStart(2, '0')}`;
    const first = Array.from({ length: 10 }, (_, i) => r.recordDiscovered(mac(i), undefined, null));
    expect(first.map((x) => ('refused' in x ? x.refused : 'ok'))).toEqual(['ok', 'ok', 'ok', ...Array(7).fill('rate')]);
    // a known one is only refreshed, never refused
    expect(r.recordDiscovered(mac(0), undefined, null)).toMatchObject({ created: false });
    clock.t += 30_000;
    expect(r.recordDiscovered(mac(20), undefined, null)).toMatchObject({ created: true });
    clock.t += 600_000;
    const later = Array.from({ length: 5 }, (_, i) => r.recordDiscovered(mac(30 + i), undefined, null));
    expect(later.map((x) => ('refused' in x ? x.refused : 'ok'))).toEqual(['ok', 'limit', 'limit', 'limit', 'limit']);
    expect(r.list().filter((n) => n.plan === 'discovered')).toHaveLength(5);
    expect(r.events({ limit: 1000 }).filter((e) => e.type === 'discovered')).toHaveLength(5);
    r.close();
  });
});

describe('event retention', () => {
  /** Two nodes with a history: state changes spread over 90 days, activity every day. */
  function history(opts: RegistryOptions = {}) {
    const o = open(opts);
    const { r, clock } = o;
    r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    r.recordDiscovered('dc:a6:32:ff:00:01', undefined, null);
    for (let day = 0; day < 90; day++) {
      clock.t += 86_400_000;
      r.activity('pi-01', 'dhcp-seen', { day }, {});
      r.activity('pi-01', 'file-fetched', { day }, { key: 'start4.elf' });
      r.record('pi-01', 'seed-fetched', { day });
      if (day % 30 === 0) {
        r.record('pi-01', 'install-started');
        r.record('pi-01', 'installed');
        r.record('pi-01', 'first-boot');
        r.record('pi-01', 'k3s-joined');
        r.reprovision('pi-01');
      }
    }
    r.selfHeal('pi-01', 'test');
    r.park('pi-01', 'test');
    return o;
  }
  const stateChanges = (r: NodeRegistry) =>
    r.events({ limit: 1000 }).filter((e) => !['dhcp-seen', 'file-fetched', 'seed-fetched', 'discovered'].includes(e.type));

  it('prunes activity older than the duration and keeps every state change', () => {
    const { r } = history();
    const kept = stateChanges(r);
    expect(kept.map((e) => e.type)).toContain('registered');
    expect(kept).toHaveLength(1 + 3 * 5 + 2);
    const before = r.events({ limit: 1000 }).length;
    // day d is stamped d+1 days in, the clock ends at 90 days: days 0..58 are older than 30 days
    expect(r.pruneEvents({ kind: 'age', ms: 30 * 86_400_000 })).toBe(59 * 3 + 1);
    expect(r.events({ limit: 1000 })).toHaveLength(before - 59 * 3 - 1);
    expect(stateChanges(r)).toEqual(kept);
    const activity = r.events({ limit: 1000 }).filter((e) => e.type === 'dhcp-seen');
    expect(activity.map((e) => e.data.day)).toEqual(Array.from({ length: 31 }, (_, i) => 59 + i));
    r.close();
  });

  it('keeps the newest N activity events with a count, and nothing is pruned with forever', () => {
    const { r } = history();
    const kept = stateChanges(r);
    expect(r.pruneEvents({ kind: 'forever' })).toBe(0);
    r.pruneEvents({ kind: 'count', events: 10 });
    const all = r.events({ limit: 1000 });
    expect(all.length).toBe(kept.length + 10);
    expect(stateChanges(r)).toEqual(kept);
    expect(r.pruneEvents({ kind: 'count', events: 10 })).toBe(0);
    r.close();
  });

  it('leaves the log append-only for everything else, including raw SQL on the file', () => {
    const { r, file } = history();
    r.close();
    const raw = new Database(file);
    expect(() => raw.prepare("DELETE FROM events WHERE type = 'dhcp-seen'").run()).toThrow(/append-only/);
    expect(() => raw.prepare("UPDATE events SET data = '{}'").run()).toThrow(/append-only/);
    // even with the gate forced open, a state change cannot be deleted
    raw.prepare('UPDATE retention_gate SET open = 1').run();
    expect(() => raw.prepare("DELETE FROM events WHERE type = 'installed'").run()).toThrow(/append-only/);
    raw.prepare('UPDATE retention_gate SET open = 0').run();
    raw.close();
  });

  it('replaces the unconditional trigger of an older database', () => {
    const { r, file } = open();
    r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd' }));
    r.close();
    const raw = new Database(file);
    raw.exec(
      "DROP TRIGGER events_delete_by_retention_v1; CREATE TRIGGER events_append_only_d BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;",
    );
    raw.close();
    const again = new NodeRegistry(file);
    again.activity('pi-01', 'dhcp-seen', {}, {});
    expect(again.pruneEvents({ kind: 'count', events: 1 })).toBe(0);
    expect(again.pruneEvents({ kind: 'age', ms: 0 })).toBe(1);
    again.close();
    const check = new Database(file);
    const triggers = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    expect(triggers).toEqual(['events_append_only_u', 'events_delete_by_retention_v1']);
    check.close();
  });
});
