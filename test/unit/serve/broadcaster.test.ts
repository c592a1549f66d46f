import { describe, expect, it } from 'vitest';
import { Broadcaster, type FeedSource, type Sink } from '../../../src/serve/http/broadcaster.js';
import type { NodeEvent } from '../../../src/serve/nodes/model.js';
import { must } from '../../helpers/must.js';

// The live stream's fan-out against a fake event log and fake sockets; the real route and
// registry are in test/integration/serve/dashboard-api.test.ts.

class FakeLog implements FeedSource {
  events: NodeEvent[] = [];
  reads: number[] = [];
  add(n: number): void {
    for (let i = 0; i < n; i++) {
      const id = (this.events.at(-1)?.id ?? 0) + 1;
      this.events.push({ id, node: 'pi-01', type: 'updated', at: '', data: {} });
    }
  }
  async after(afterId: number, limit: number): Promise<NodeEvent[]> {
    this.reads.push(afterId);
    return this.events.filter((e) => e.id > afterId).slice(0, limit);
  }
  async latestId(): Promise<number> {
    return this.events.at(-1)?.id ?? 0;
  }
  async render(events: readonly NodeEvent[]): Promise<Map<number, string>> {
    return new Map(events.map((e) => [e.id, `id: ${e.id}\n\n`]));
  }
}

class FakeSink implements Sink {
  text = '';
  writableLength = 0;
  /** While true, every write is "buffered": writableLength grows and write() says false. */
  stalled = false;
  ended = false;
  destroyed = false;
  write(chunk: string): boolean {
    this.text += chunk;
    if (this.stalled) this.writableLength += chunk.length;
    return !this.stalled;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  ids(): number[] {
    return [...this.text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  }
}

const make = (log: FakeLog, opts = {}, clock = { now: 0 }) => new Broadcaster(log, { pollMs: 1_000_000, ...opts }, undefined, () => clock.now);

describe('live stream broadcaster', () => {
  it('sends each stream the events after its own cursor in id order, from now when it gives none', async () => {
    const log = new FakeLog();
    log.add(3);
    const b = make(log);
    const fromNow = new FakeSink();
    const fromOne = new FakeSink();
    await b.subscribe(fromNow, undefined);
    await b.subscribe(fromOne, 1);
    await b.poll();
    log.add(2);
    await b.poll();
    expect(fromNow.ids()).toEqual([4, 5]);
    expect(fromOne.ids()).toEqual([2, 3, 4, 5]);
    // an id beyond the log (a replaced database) starts from the newest
    const ahead = new FakeSink();
    await b.subscribe(ahead, 99);
    log.add(1);
    await b.poll();
    expect(ahead.ids()).toEqual([6]);
    b.close();
  });

  it('reads once per distinct cursor: streams at the same place share one query', async () => {
    const log = new FakeLog();
    const b = make(log);
    for (let i = 0; i < 5; i++) await b.subscribe(new FakeSink(), undefined);
    log.add(1);
    log.reads = [];
    await b.poll();
    expect(log.reads).toEqual([0]);
    b.close();
  });

  it('catches a stream far behind up a page per poll', async () => {
    const log = new FakeLog();
    log.add(25);
    const b = make(log, { pageSize: 10 });
    const s = new FakeSink();
    await b.subscribe(s, 0);
    await b.poll();
    expect(s.ids()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await b.poll();
    await b.poll();
    expect(s.ids().length).toBe(25);
    b.close();
  });

  it('skips a backed-up stream and drops it when it stays so; the others are not held up', async () => {
    const log = new FakeLog();
    const b = make(log, { maxBlockedPolls: 3 });
    const slow = new FakeSink();
    const quick = new FakeSink();
    const ended: string[] = [];
    await b.subscribe(slow, 0, { onEnd: (r) => ended.push(r) });
    await b.subscribe(quick, 0);
    slow.stalled = true;
    log.add(1);
    await b.poll();
    expect(slow.ids()).toEqual([1]);
    for (let i = 0; i < 3; i++) {
      log.add(1);
      await b.poll();
    }
    // the stalled stream got nothing more while backed up, then was cut
    expect(slow.ids()).toEqual([1]);
    expect(slow.destroyed).toBe(true);
    expect(ended).toEqual(['slow']);
    expect(quick.ids()).toEqual([1, 2, 3, 4]);
    expect(b.size).toBe(1);
    b.close();
  });

  it('a stream whose socket drained gets what it missed', async () => {
    const log = new FakeLog();
    const b = make(log, { maxBlockedPolls: 10 });
    const s = new FakeSink();
    await b.subscribe(s, 0);
    s.stalled = true;
    log.add(1);
    await b.poll();
    log.add(1);
    await b.poll();
    expect(s.ids()).toEqual([1]);
    s.stalled = false;
    s.writableLength = 0;
    await b.poll();
    expect(s.ids()).toEqual([1, 2]);
    b.close();
  });

  it('drops a stream whose unsent bytes pass the bound at once', async () => {
    const log = new FakeLog();
    const b = make(log, { maxBufferedBytes: 100 });
    const s = new FakeSink();
    await b.subscribe(s, 0);
    s.writableLength = 101;
    await b.poll();
    expect(s.destroyed).toBe(true);
    expect(b.size).toBe(0);
  });

  it('refuses streams beyond the bound, keeps quiet ones alive, and ends those whose credential is gone', async () => {
    const log = new FakeLog();
    const clock = { now: 0 };
    const b = make(log, { maxSubscribers: 2, keepaliveMs: 15_000 }, clock);
    let signedIn = true;
    const a = new FakeSink();
    const c = new FakeSink();
    expect(await b.subscribe(a, undefined, { alive: () => signedIn })).toBeDefined();
    expect(await b.subscribe(c, undefined)).toBeDefined();
    expect(b.full).toBe(true);
    expect(await b.subscribe(new FakeSink(), undefined)).toBeUndefined();
    clock.now = 14_999;
    await b.poll();
    expect(c.text).not.toContain(': keepalive');
    clock.now = 15_000;
    await b.poll();
    expect(c.text).toContain(': keepalive\n\n');
    signedIn = false;
    await b.poll();
    expect(a.ended).toBe(true);
    expect(b.size).toBe(1);
    b.close();
    expect(c.ended).toBe(true);
    expect(b.size).toBe(0);
    expect(await b.subscribe(new FakeSink(), undefined)).toBeUndefined();
  });

  it('polls on its own only while someone listens', async () => {
    const log = new FakeLog();
    const b = make(log, { pollMs: 5 });
    await new Promise((r) => setTimeout(r, 30));
    expect(log.reads).toEqual([]);
    const s = new FakeSink();
    const sub = await b.subscribe(s, undefined);
    log.add(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(s.ids()).toEqual([1]);
    b.unsubscribe(sub as NonNullable<typeof sub>);
    const reads = log.reads.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(log.reads.length).toBe(reads);
  });

  it('keeps going when a read fails', async () => {
    const log = new FakeLog();
    const warnings: string[] = [];
    const b = new Broadcaster(log, { pollMs: 1_000_000 }, { warn: (_o, m) => warnings.push(m) });
    const s = new FakeSink();
    await b.subscribe(s, 0);
    const after = log.after.bind(log);
    log.after = async () => {
      throw new Error('database is locked');
    };
    await b.poll();
    await b.poll();
    expect(warnings).toEqual(['live stream: reading events failed']);
    log.after = after;
    log.add(1);
    await b.poll();
    expect(s.ids()).toEqual([1]);
    b.close();
  });
  it('with a watched source, reads when woken (and on a lost notice only at the safety-net interval)', async () => {
    const clock = { now: 0 };
    let wake: () => void = () => undefined;
    let stopped = false;
    const log = new FakeLog();
    const watched: FeedSource = {
      after: (a, l) => log.after(a, l),
      latestId: () => log.latestId(),
      render: (e) => log.render(e),
      async watch(w) {
        wake = w;
        return async () => {
          stopped = true;
        };
      },
    };
    // the broadcaster reads through `watched`; the fake log behind it records the reads
    const bw = new Broadcaster(watched, { pollMs: 1_000_000, watchedReadMs: 5_000, pageSize: 2 }, undefined, () => clock.now);
    const sink = new FakeSink();
    const sub = await bw.subscribe(sink, undefined);
    await Promise.resolve();
    wake();
    await bw.poll();
    const afterWake = log.reads.length;
    expect(afterWake).toBeGreaterThan(0);
    // a commit nobody announced: quiet polls do not read the store ...
    log.add(1);
    clock.now = 1_000;
    await bw.poll();
    await bw.poll();
    expect(log.reads.length).toBe(afterWake);
    expect(sink.ids()).toEqual([]);
    // ... until the safety-net read
    clock.now = 6_000;
    await bw.poll();
    expect(sink.ids()).toEqual([1]);
    // a wake is read at once; a full page keeps the stream reading until it is caught up
    log.add(3);
    wake();
    await bw.poll();
    expect(sink.ids()).toEqual([1, 2, 3]);
    await bw.poll();
    expect(sink.ids()).toEqual([1, 2, 3, 4]);
    const reads = log.reads.length;
    await bw.poll();
    expect(log.reads.length).toBe(reads);
    // the last stream gone, the watch ends
    bw.unsubscribe(must(sub, 'the stream'));
    await new Promise((r) => setTimeout(r, 0));
    expect(stopped).toBe(true);
  });
});
