import type { NodeEvent } from '../nodes/model.js';
import { errorText } from '../../util/errors.js';

// One poller behind every live stream (GET /api/stream). The registry is also written by
// `kiln node ...` in another process, so the database, not an in-process emitter, is where new
// events show up: it is read every pollMs, only while someone listens, once per distinct cursor
// (in the steady state every stream is at the same cursor: one query per poll for all of them).
// Each stream gets the events after its own cursor in id order. A client that does not read is
// skipped while its socket is backed up and dropped when it stays so, never buffered without end.

export interface BroadcastOptions {
  pollMs: number;
  /** A comment line this often keeps proxies and the idle timeout from closing a quiet stream. */
  keepaliveMs: number;
  /** Streams open at once; one more is refused (503). */
  maxSubscribers: number;
  /** A stream whose unsent bytes pass this is dropped. */
  maxBufferedBytes: number;
  /** A stream whose socket stayed backed up for this many polls in a row is dropped. */
  maxBlockedPolls: number;
  /** Events read per cursor and poll; a stream behind by more catches up over several polls. */
  pageSize: number;
  /**
   * With a source that says when something changed (FeedSource.watch: PostgreSQL's NOTIFY), the
   * store is read when told, and otherwise only this often, as a safety net for a lost notice.
   */
  watchedReadMs: number;
}

export const DEFAULT_BROADCAST: BroadcastOptions = {
  pollMs: 250,
  keepaliveMs: 15_000,
  maxSubscribers: 32,
  maxBufferedBytes: 1 << 20,
  maxBlockedPolls: 40,
  pageSize: 200,
  watchedReadMs: 5_000,
};

/** Where the events come from (the registry) and how one becomes a message on the wire. */
export interface FeedSource {
  /** Events with an id above `afterId`, oldest first, at most `limit`. */
  after(afterId: number, limit: number): Promise<NodeEvent[]>;
  /** The newest event's id (0: none yet): where a stream without a cursor starts. */
  latestId(): Promise<number>;
  /** Each event's wire text, by id. Called with at least one event. */
  render(events: readonly NodeEvent[]): Promise<Map<number, string>>;
  /** Calls `wake` when the store changed, until the returned function is called; absent: poll. */
  watch?(wake: () => void): Promise<() => Promise<void>>;
}

/** The response a stream writes to (an http.ServerResponse). */
export interface Sink {
  write(chunk: string): boolean;
  readonly writableLength: number;
  end(): void;
  destroy(): void;
}

export type EndReason = 'closed' | 'slow' | 'expired' | 'shutdown';

export interface Subscription {
  readonly sink: Sink;
  cursor: number;
  /** The last write returned false: wait for the socket to drain before writing more. */
  blocked: boolean;
  blockedPolls: number;
  lastWrite: number;
  /** False once the credential the stream was opened with is gone (a session expired or signed out). */
  alive: () => boolean;
  onEnd: (reason: EndReason) => void;
  /** The wake count its last read began at; below the broadcaster's, it has news to read. */
  readAt: number;
  /** Its last read filled a page: more may be waiting, wake or not. */
  behind: boolean;
}

export interface Logger {
  warn(obj: object, msg: string): void;
}

export class Broadcaster {
  private readonly subs = new Set<Subscription>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failing = false;
  /** The poll under way: the timer does not start another over it. */
  private polling: Promise<void> | undefined;
  /** Wakes from the source's watch so far; undefined while not watching (every poll reads). */
  private wakes: number | undefined;
  private unwatch: Promise<(() => Promise<void>) | undefined> | undefined;
  private lastFullRead = 0;
  readonly opts: BroadcastOptions;

  constructor(
    private readonly source: FeedSource,
    opts: Partial<BroadcastOptions> = {},
    private readonly log: Logger = { warn: () => undefined },
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { ...DEFAULT_BROADCAST, ...opts };
  }

  get size(): number {
    return this.subs.size;
  }

  get full(): boolean {
    return this.subs.size >= this.opts.maxSubscribers;
  }

  /**
   * Starts a stream after `after` (undefined: from now). A cursor beyond the newest event (a
   * database replaced under a browser that remembers an id) starts from the newest instead, or the
   * stream would wait for ids that are not coming. Undefined when full or closed.
   */
  async subscribe(
    sink: Sink,
    after: number | undefined,
    opts: { alive?: () => boolean; onEnd?: (reason: EndReason) => void } = {},
  ): Promise<Subscription | undefined> {
    if (this.closed || this.full) return undefined;
    const latest = await this.source.latestId();
    // Checked again after the read: the server may have closed, or the last place gone, meanwhile.
    if (this.closed || this.full) return undefined;
    const sub: Subscription = {
      sink,
      cursor: after === undefined ? latest : Math.min(after, latest),
      blocked: false,
      blockedPolls: 0,
      lastWrite: this.now(),
      alive: opts.alive ?? (() => true),
      onEnd: opts.onEnd ?? (() => undefined),
      readAt: -1,
      behind: true,
    };
    this.subs.add(sub);
    this.send(sub, ': kiln live events\nretry: 3000\n\n');
    this.timer ??= setInterval(() => this.kick(), this.opts.pollMs).unref();
    this.startWatching();
    return sub;
  }

  private kick(): void {
    void this.poll();
  }

  /** While someone listens and the source can tell when the store changed, read on its word. */
  private startWatching(): void {
    if (this.unwatch || !this.source.watch) return;
    this.unwatch = this.source
      .watch(() => {
        this.wakes = (this.wakes ?? 0) + 1;
        this.kick();
      })
      .catch((err: unknown) => {
        // no watch (the LISTEN connection failed): every poll reads, as with SQLite
        this.log.warn({ err: errorText(err) }, 'live stream: cannot watch the store for changes; polling it');
        return undefined;
      });
  }

  private stopWatching(): void {
    const u = this.unwatch;
    this.unwatch = undefined;
    this.wakes = undefined;
    void u?.then((stop) => stop?.()).catch(() => undefined);
  }

  /** The client went away (its socket closed): forget it. */
  unsubscribe(sub: Subscription): void {
    if (!this.subs.delete(sub)) return;
    sub.onEnd('closed');
    this.idle();
  }

  /** Ends every stream and stops polling (the server is closing). */
  close(): void {
    this.closed = true;
    for (const s of [...this.subs]) this.end(s, 'shutdown');
    this.idle();
  }

  /**
   * One round: each stream gets what is new after its cursor, or a keepalive; a call while one is
   * under way joins it (two rounds at once would send the same events twice). Public for tests.
   * Never rejects: a failed read is logged and retried at the next poll.
   */
  poll(): Promise<void> {
    this.polling ??= this.round().finally(() => {
      this.polling = undefined;
      // A wake that came while reading is read now, not a poll interval later. Not after a failed
      // read (that waits for the next tick) nor for a stream skipped as backed up: both would spin.
      const w = this.wakes;
      if (w !== undefined && !this.failing && [...this.subs].some((s) => s.readAt < w && !s.blocked)) this.kick();
    });
    return this.polling;
  }

  private async round(): Promise<void> {
    const now = this.now();
    const wakes = this.wakes;
    // Watched: read the streams that were woken since their last read or filled their last page,
    // and all of them now and then in case a notice was lost. Not watched: read every poll.
    const fullRead = wakes === undefined || now - this.lastFullRead >= this.opts.watchedReadMs;
    if (fullRead) this.lastFullRead = now;
    const byCursor = new Map<number, Subscription[]>();
    for (const s of [...this.subs]) {
      if (!s.alive()) this.end(s, 'expired');
      else if (this.backedUp(s)) continue;
      else if (fullRead || s.behind || s.readAt < (wakes ?? 0)) byCursor.set(s.cursor, [...(byCursor.get(s.cursor) ?? []), s]);
    }
    try {
      const wire = new Map<number, string>();
      for (const [cursor, group] of byCursor) {
        const events = await this.source.after(cursor, this.opts.pageSize);
        for (const s of group) {
          s.readAt = wakes ?? 0;
          s.behind = events.length >= this.opts.pageSize;
        }
        if (events.length === 0) continue;
        const missing = events.filter((e) => !wire.has(e.id));
        if (missing.length > 0) for (const [id, text] of await this.source.render(missing)) wire.set(id, text);
        const text = events.map((e) => wire.get(e.id) ?? '').join('');
        const last = events[events.length - 1]?.id ?? cursor;
        for (const s of group) {
          // It may have ended while the events were read.
          if (!this.subs.has(s)) continue;
          s.cursor = last;
          this.send(s, text);
        }
      }
      this.failing = false;
    } catch (err) {
      // The database may be closing under us (shutdown) or busy: try again next poll, say it once.
      if (!this.failing) this.log.warn({ err: errorText(err) }, 'live stream: reading events failed');
      this.failing = true;
    }
    for (const s of this.subs) if (!s.blocked && now - s.lastWrite >= this.opts.keepaliveMs) this.send(s, ': keepalive\n\n');
  }

  /** Whether to skip the stream this round; drops it when it has been backed up for too long. */
  private backedUp(s: Subscription): boolean {
    if (s.sink.writableLength > this.opts.maxBufferedBytes) {
      this.end(s, 'slow');
      return true;
    }
    if (!s.blocked) return false;
    if (s.sink.writableLength === 0) {
      s.blocked = false;
      s.blockedPolls = 0;
      return false;
    }
    if (++s.blockedPolls >= this.opts.maxBlockedPolls) this.end(s, 'slow');
    return true;
  }

  private send(s: Subscription, text: string): void {
    s.lastWrite = this.now();
    if (!s.sink.write(text)) s.blocked = true;
  }

  private end(s: Subscription, reason: Exclude<EndReason, 'closed'>): void {
    if (!this.subs.delete(s)) return;
    if (reason === 'slow') s.sink.destroy();
    else s.sink.end();
    s.onEnd(reason);
    this.idle();
  }

  private idle(): void {
    if (this.subs.size > 0 || this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopWatching();
  }
}
