import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerAgent } from '../../../src/serve/nodes/store/agents.js';
import { StoreUnreachableError, type SqlStore } from '../../../src/serve/nodes/store/sql.js';
import { openSqliteStore } from '../../../src/serve/nodes/store/sqlite.js';
import { PROBE_DOWN_MS, StoreHealth } from '../../../src/serve/store-health.js';

// The store's reachability as /health and kiln_store_up show it: the heartbeat probes it, and a
// request that found it unreachable says so at once; while down it is probed every second.

async function switchable(): Promise<{ store: SqlStore; set: (down: boolean) => void; probes: () => number }> {
  const real = await openSqliteStore(':memory:');
  await registerAgent(real, { name: 'rackA', network: 'eth1 10.0.0.1', images: [] }, new Date());
  let down = false;
  let probes = 0;
  const store: SqlStore = {
    ...real,
    kind: 'postgres',
    run: (sql, p) => {
      probes++;
      return down ? Promise.reject(new StoreUnreachableError('connect ECONNREFUSED')) : real.run(sql, p);
    },
  };
  return { store, set: (d) => (down = d), probes: () => probes };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('StoreHealth', () => {
  it('a failed request marks the store down at once; probed every PROBE_DOWN_MS, it is up again within one probe of coming back', async () => {
    const s = await switchable();
    const changes: boolean[] = [];
    const h = new StoreHealth(
      s.store,
      'rackA',
      () => new Date(),
      (up) => changes.push(up),
    );
    h.start(20_000);
    expect(h.status()).toMatchObject({ kind: 'postgres', reachable: true, error: null });

    s.set(true);
    h.failed(new StoreUnreachableError('connect ECONNREFUSED'));
    expect(h.status()).toMatchObject({ reachable: false, error: 'connect ECONNREFUSED' });
    expect(changes).toEqual([true, false]);

    // down: probed every second, not every heartbeat
    const before = s.probes();
    await vi.advanceTimersByTimeAsync(3 * PROBE_DOWN_MS + 10);
    expect(s.probes() - before).toBe(3);
    expect(h.status().reachable).toBe(false);
    expect(changes).toEqual([true, false]);

    s.set(false);
    await vi.advanceTimersByTimeAsync(PROBE_DOWN_MS + 10);
    expect(h.status()).toMatchObject({ reachable: true, error: null });
    expect(changes).toEqual([true, false, true]);

    // up again: back to the heartbeat's pace
    const up = s.probes();
    await vi.advanceTimersByTimeAsync(19_000);
    expect(s.probes()).toBe(up);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(s.probes()).toBe(up + 1);
    h.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.probes()).toBe(up + 1);
  });

  it('the heartbeat alone notices an outage nobody asked about', async () => {
    const s = await switchable();
    const h = new StoreHealth(s.store, 'rackA');
    h.start(20_000);
    s.set(true);
    await vi.advanceTimersByTimeAsync(20_010);
    expect(h.status().reachable).toBe(false);
    s.set(false);
    await vi.advanceTimersByTimeAsync(PROBE_DOWN_MS + 10);
    expect(h.status().reachable).toBe(true);
    h.stop();
  });
});
