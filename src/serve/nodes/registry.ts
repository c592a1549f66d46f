import { ActivityAggregator, TokenBucket, type ActivityWrite, type AggregatedType, type EventRetention, type Occurrence } from './activity.js';
import type { EnrollDecision, EnrollRequest } from './enrollment.js';
import type { EventType, NodeBoard, NodeEvent, NodeInput, NodeRecord, NodeSettings } from './model.js';
import type { EventFilter, RegistryContext } from './registry-reads.js';
import { RegistryTx, type DiscoveryResult, type RecordedType } from './registry-tx.js';
import { isStoreUnreachable, type SqlStore } from './store/sql.js';
import { openSqliteStore } from './store/sqlite.js';

export { RegistryError, type IdentityClash } from './registry-rows.js';
export type { EventFilter } from './registry-reads.js';
export type { DiscoveryResult, RecordedType, RegistryTx } from './registry-tx.js';

// The node registry: its logic (registry-reads.ts, registry-tx.ts) over a SqlStore (SQLite in the state dir, or
// PostgreSQL). Every change is one transaction that also appends to the event log, so the timeline
// and the node table never disagree.

export interface RegistryOptions {
  now?: () => Date;
  /** Aggregation window of unauthenticated activity events (dhcp-seen, file-fetched, ...). */
  activityWindowMs?: number;
  /** At most `max` discovered placeholders, created at most `perMinute` (after a first `burst`). */
  discovery?: { max: number; burst: number; perMinute: number };
  /** This serving agent's name, recorded on the events it writes (several agents may share a store). */
  agent?: string;
  /**
   * Activity rows kept in memory while the store is unreachable, written once it answers again
   * (default DEFAULT_ACTIVITY_BUFFER). Rows beyond it are dropped and passed to `onActivityDropped`.
   */
  activityBuffer?: number;
  onActivityDropped?: (rows: number, why: 'buffer-full' | 'refused' | 'closing') => void;
}

export const DEFAULT_ACTIVITY_WINDOW_MS = 60_000;
export const DEFAULT_DISCOVERY = { max: 64, burst: 10, perMinute: 10 } as const;
/**
 * Aggregation bounds what one key writes to a row per window, so an outage of minutes over a few
 * hundred nodes stays well inside this; a longer one loses the newest activity, never state changes.
 */
export const DEFAULT_ACTIVITY_BUFFER = 2000;

/** Opens the SQLite registry at `path` (':memory:' for a throwaway one). */
export async function openSqliteRegistry(path: string, opts: RegistryOptions = {}): Promise<NodeRegistry> {
  return NodeRegistry.open(await openSqliteStore(path), opts);
}

export class NodeRegistry {
  private readonly activityLog: ActivityAggregator;
  private readonly ctx: RegistryContext;
  /** Reads and single-statement writes: on the store, outside any transaction. */
  private readonly direct: RegistryTx;
  private closing: Promise<void> | undefined;
  /** Activity rows a write could not store (the store unreachable), oldest first, for the next write. */
  private unwritten: ActivityWrite[] = [];
  private readonly bufferMax: number;
  private readonly onDropped: NonNullable<RegistryOptions['onActivityDropped']>;

  private constructor(
    private readonly store: SqlStore,
    opts: RegistryOptions,
  ) {
    const now = opts.now ?? (() => new Date());
    const d = opts.discovery ?? DEFAULT_DISCOVERY;
    this.ctx = { now, agent: opts.agent ?? null, discovery: { max: d.max, bucket: new TokenBucket(d.burst, d.perMinute, now().getTime()) } };
    this.activityLog = new ActivityAggregator(opts.activityWindowMs ?? DEFAULT_ACTIVITY_WINDOW_MS);
    this.direct = new RegistryTx(store, this.ctx);
    this.bufferMax = opts.activityBuffer ?? DEFAULT_ACTIVITY_BUFFER;
    this.onDropped = opts.onActivityDropped ?? (() => undefined);
  }

  /** The registry on an opened store (its schema migrated); closing the registry closes the store. */
  static async open(store: SqlStore, opts: RegistryOptions = {}): Promise<NodeRegistry> {
    const r = new NodeRegistry(store, opts);
    try {
      if (await r.direct.needsSecretMigration()) await r.batch((tx) => tx.migrateSecrets());
    } catch (err) {
      await store.close();
      throw err;
    }
    return r;
  }

  /** Writes the activity still being aggregated, then closes the store (once, however often called). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.writeActivity(this.activityLog.drain());
        const lost = this.unwritten.length;
        this.unwritten = [];
        if (lost > 0) this.onDropped(lost, 'closing');
      } finally {
        await this.store.close();
      }
    })();
    return this.closing;
  }

  /**
   * Runs several changes as one transaction, through the `tx` given (the store's transactions do
   * not nest: calling the registry itself inside would wait for this one forever, and is refused).
   */
  batch<T>(fn: (tx: RegistryTx) => Promise<T>): Promise<T> {
    return this.store.transaction((q) => fn(new RegistryTx(q, this.ctx)));
  }

  list(): Promise<NodeRecord[]> {
    return this.direct.list();
  }

  get(name: string): Promise<NodeRecord | undefined> {
    return this.direct.get(name);
  }

  mustGet(name: string): Promise<NodeRecord> {
    return this.direct.mustGet(name);
  }

  byMac(mac: string): Promise<NodeRecord | undefined> {
    return this.direct.byMac(mac);
  }

  bySerial(serial: string): Promise<NodeRecord | undefined> {
    return this.direct.bySerial(serial);
  }

  byIp(ip: string): Promise<NodeRecord | undefined> {
    return this.direct.byIp(ip);
  }

  /** TFTP prefix: serial (8 hex digits) or MAC with dashes. */
  byPrefix(prefix: string): Promise<NodeRecord | undefined> {
    return this.direct.byPrefix(prefix);
  }

  /** Finds the node a DHCP client is: a registered MAC first, then the serial from option 97. */
  find(mac: string, serial?: string): Promise<NodeRecord | undefined> {
    return this.direct.find(mac, serial);
  }

  /** Creates or updates a node from operator input; `yaml` entries lock their fields against the API. */
  upsert(input: NodeInput, source: 'db' | 'yaml' = 'db'): Promise<NodeRecord> {
    return this.batch((tx) => tx.upsert(input, source));
  }

  /** Marks a node to be reinstalled at its next netboot. */
  reprovision(name: string): Promise<NodeRecord> {
    return this.batch((tx) => tx.reprovision(name));
  }

  setPlan(name: string, plan: 'install' | 'local'): Promise<NodeRecord> {
    return this.batch((tx) => tx.setPlan(name, plan));
  }

  remove(name: string): Promise<void> {
    return this.batch((tx) => tx.remove(name));
  }

  /** Removes a node nodes.yaml declared and no longer does (only the file sync calls this). */
  dropDeclared(name: string, why: Record<string, unknown>): Promise<void> {
    return this.batch((tx) => tx.dropDeclared(name, why));
  }

  /**
   * Records an unknown Pi once; later sightings only refresh last-seen. Any host can claim to be a
   * new Pi, so new placeholders are bounded: at most `discovery.max` at a time, created at a bounded
   * rate; beyond either the Pi is refused (the caller counts and logs it) and nothing is written.
   */
  recordDiscovered(mac: string, serial: string | undefined, ip: string | null, board?: NodeBoard, vendorClass?: string | null): Promise<DiscoveryResult> {
    return this.batch((tx) => tx.recordDiscovered(mac, serial, ip, board, vendorClass));
  }

  /**
   * Completes a node's identity from what its DHCP packet showed: a Pi registered by MAC asks TFTP
   * for `<serial>/…`, one registered by serial may be asked for by MAC. Never takes an identity
   * another node holds; returns true when something was learned.
   */
  learnIdentity(name: string, mac: string, serial: string | undefined): Promise<boolean> {
    return this.batch((tx) => tx.learnIdentity(name, mac, serial));
  }

  /**
   * Records the board a node's DHCP request named (the decision only asks when it differs from
   * the record). No event of its own: the `dhcp-seen` event of the same request carries the model.
   * Returns true when the row changed.
   */
  learnBoard(name: string, b: NodeBoard): Promise<boolean> {
    return this.direct.learnBoard(name, b);
  }

  /**
   * A node asked for one of its boot files. Only the time is kept: a TFTP read proves nothing about
   * who asked, so it never binds the node's address.
   */
  seen(name: string): Promise<void> {
    return this.direct.seen(name);
  }

  /** Full DHCP mode: kiln itself leased this address to the node's MAC. */
  leased(name: string, ip: string): Promise<void> {
    return this.direct.leased(name, ip);
  }

  /** The node reported with its own credential from this address: Ansible and k3s agents use it. */
  bindAddress(name: string, ip: string): Promise<void> {
    return this.direct.bindAddress(name, ip);
  }

  /**
   * The install token to render into the node's kernel command line. Serving it starts its
   * lifetime; an unused token that expired is replaced. A used one is returned as it is: the
   * installer's second enrolment with it is refused and raised, until the operator reprovisions.
   */
  installTokenFor(name: string): Promise<string | undefined> {
    return this.batch((tx) => tx.installTokenFor(name));
  }

  /**
   * Trades the install token for the node's credential (once). Refusals that suggest someone else
   * holds the token are recorded as `alert` events.
   */
  enroll(name: string, req: EnrollRequest): Promise<{ decision: EnrollDecision; credential?: string }> {
    return this.batch((tx) => tx.enroll(name, req));
  }

  /** Whether `secret` is the node's current credential. */
  hasCredential(name: string, secret: string): Promise<boolean> {
    return this.direct.hasCredential(name, secret);
  }

  /**
   * An event any host can cause without a credential (a DISCOVER naming the node, a TFTP fetch of
   * its files): aggregated (see ActivityAggregator), so it is written at once only when it is the
   * first of its window. Returns whether it was written, folded into a later row, or kept in memory
   * because the store is unreachable (written with the next write that succeeds).
   */
  async activity(
    node: string,
    type: AggregatedType,
    data: Record<string, unknown>,
    opts: { key?: string; source?: string } = {},
  ): Promise<'written' | 'folded' | 'buffered'> {
    const o: Occurrence = { node, type, data, ...opts };
    const rows = this.activityLog.offer(o, this.ctx.now().getTime());
    if (rows.length === 0) return 'folded';
    return (await this.writeActivity(rows)) ? 'written' : 'buffered';
  }

  /**
   * Writes the aggregates whose window has ended, and what an unreachable store left unwritten
   * (the service calls this periodically, which is also how the buffer drains after an outage).
   */
  async flushActivity(): Promise<number> {
    const rows = this.activityLog.due(this.ctx.now().getTime());
    await this.writeActivity(rows);
    return rows.length;
  }

  /** Rows waiting in memory for the store to answer again. */
  get activityBuffered(): number {
    return this.unwritten.length;
  }

  /**
   * Writes `rows` after whatever is buffered, in one transaction. The store unreachable: all of
   * them wait in the buffer (bounded: the newest beyond it are dropped) and this returns false.
   * Any other failure is a refusal no retry would change: those rows are dropped, and it throws.
   */
  private async writeActivity(rows: ActivityWrite[]): Promise<boolean> {
    // Taken out before the await, so a concurrent call neither writes them twice nor loses them.
    const all = this.unwritten.splice(0).concat(rows);
    if (all.length === 0) return true;
    try {
      await this.batch((tx) => tx.writeActivity(all));
      return true;
    } catch (err) {
      if (!isStoreUnreachable(err)) {
        this.onDropped(all.length, 'refused');
        throw err;
      }
      // The time it happened, since the row's own `at` will be the time it is finally written.
      const at = this.ctx.now().toISOString();
      const kept = [...all.map((r) => (r.data.queuedAt === undefined ? { ...r, data: { ...r.data, queuedAt: at } } : r)), ...this.unwritten];
      this.unwritten = kept.slice(0, this.bufferMax);
      if (kept.length > this.bufferMax) this.onDropped(kept.length - this.bufferMax, 'buffer-full');
      return false;
    }
  }

  /**
   * Deletes activity events the retention no longer keeps (PRUNABLE_TYPES: dhcp-seen, file-fetched,
   * discovered, ...), never a state change; returns how many went. The only DELETE the events
   * table lets through, and only inside this transaction (SQLite: see store/sqlite-schema.ts).
   */
  async pruneEvents(retention: EventRetention): Promise<number> {
    if (retention.kind === 'forever') return 0;
    return this.batch((tx) => tx.pruneEvents(retention));
  }

  /** Appends an event and applies the state change it implies, atomically. */
  record(name: string, type: RecordedType, data: Record<string, unknown> = {}): Promise<NodeEvent> {
    return this.batch((tx) => tx.record(name, type, data));
  }

  /** Stops answering a node until the operator reprovisions or unparks it; flagged in its state and events. */
  park(name: string, reason: string): Promise<NodeRecord> {
    return this.batch((tx) => tx.park(name, reason));
  }

  /**
   * Answers a parked node again under its current plan, without the new install a reprovision
   * starts. `unparked` resets the failure count (failedInARow), or the next failed install would
   * park it again at once. Its state before the park is not kept: it is `registered` again.
   */
  unpark(name: string): Promise<NodeRecord> {
    return this.batch((tx) => tx.unpark(name));
  }

  /**
   * Changes the given per-node settings in place; the `updated` event names the changed fields
   * with their new values (none changed: no event). Nodes from nodes.yaml are changed there.
   */
  updateSettings(name: string, s: NodeSettings): Promise<NodeRecord> {
    return this.batch((tx) => tx.updateSettings(name, s));
  }

  /**
   * Registers a discovered Pi under the operator's name with the placeholder's serial and MAC. The
   * placeholder gives way as in upsert (its board carried over); under another name it also gets a
   * `removed` event naming the new node, so a timeline or live view sees where it went.
   */
  approve(placeholder: string, input: Omit<NodeInput, 'serial' | 'mac'>): Promise<NodeRecord> {
    return this.batch((tx) => tx.approve(placeholder, input));
  }

  /**
   * A `local` node netbooted: its disk did not boot. Switch it to `install` and record why, so the
   * TFTP and HTTP paths serve it the installer.
   */
  selfHeal(name: string, reason: string): Promise<NodeRecord> {
    return this.batch((tx) => tx.selfHeal(name, reason));
  }

  /**
   * Events, oldest first. With `afterId`: the first `limit` events after that id (a client pages
   * forward, or polls, from its last id). Without: the newest `limit` (recent history).
   */
  events(filter: EventFilter = {}): Promise<NodeEvent[]> {
    return this.direct.readEvents(filter, clampLimit(filter.limit));
  }

  /**
   * One page of `events()` with the cursor for the next call: `next` is the id of the last event
   * returned (or `afterId` again when there is none yet), `more` whether events after it exist.
   */
  async eventPage(filter: EventFilter = {}): Promise<{ events: NodeEvent[]; next: number; more: boolean }> {
    const limit = clampLimit(filter.limit);
    if (filter.afterId === undefined) {
      const events = await this.direct.readEvents(filter, limit);
      return { events, next: events.at(-1)?.id ?? 0, more: false };
    }
    const rows = await this.direct.readEvents(filter, limit + 1);
    const events = rows.slice(0, limit);
    return { events, next: events.at(-1)?.id ?? filter.afterId, more: rows.length > limit };
  }

  /** The node's install milestones (DECISION_EVENTS), oldest first, however many other events it has. */
  decisionHistory(name: string): Promise<{ type: EventType }[]> {
    return this.direct.decisionHistory(name);
  }

  /**
   * The latest `install-progress` of every node that is installing now, in one query: per node the
   * index on (node, id) is walked back from the newest event to the first match. A report from an
   * earlier install (before the last `install-started`) does not count.
   */
  latestInstallProgress(): Promise<{ node: string; at: string; data: Record<string, unknown> }[]> {
    return this.direct.latestInstallProgress();
  }

  /** The newest event's id (0 when there is none): read before a list, it is where a stream resumes. */
  lastEventId(): Promise<number> {
    return this.direct.lastEventId();
  }

  countByState(): Promise<Record<string, number>> {
    return this.direct.countByState();
  }

  count(): Promise<number> {
    return this.direct.count();
  }

  /** The store's change notices (PostgreSQL LISTEN/NOTIFY), when it has them: see SqlStore.watch. */
  get watch(): ((onChange: () => void) => Promise<() => Promise<void>>) | undefined {
    const w = this.store.watch;
    return w ? (onChange) => w.call(this.store, onChange) : undefined;
  }
}

/** Reads return 1..1000 events (100 when not given): one answer never holds the whole log. */
function clampLimit(limit: number | undefined): number {
  return Math.min(Math.max(limit ?? 100, 1), 1000);
}
