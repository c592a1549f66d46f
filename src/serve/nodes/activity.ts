import type { EventType } from './model.js';

// Pure pieces that bound what unauthenticated traffic can write to the event log: any host on the
// LAN can send a DISCOVER naming a registered MAC or serial, or fetch a node's TFTP files. Without
// these, every such packet was a row, and the rows could never be removed.

/**
 * Events any host can cause without a credential. They are aggregated: per node, type and key
 * (the file, for `file-fetched`) at most one row per window, carrying the `count` it stands for.
 */
export const AGGREGATED_TYPES = ['dhcp-seen', 'dhcp-offered', 'dhcp-declined', 'file-fetched'] as const;
export type AggregatedType = (typeof AGGREGATED_TYPES)[number];

/**
 * Activity the retention may delete once old. Every other type is a state change (registered,
 * updated, reprovision, removed, install-*, installed, first-boot*, k3s-*, self-heal, parked, and
 * whatever is added later) and is kept forever: an unknown type is never pruned.
 */
export const PRUNABLE_TYPES = [...AGGREGATED_TYPES, 'discovered', 'seed-fetched'] as const satisfies readonly EventType[];

export function isAggregated(type: EventType): type is AggregatedType {
  return (AGGREGATED_TYPES as readonly string[]).includes(type);
}

/** One occurrence as a protocol handler reports it. */
export interface Occurrence {
  node: string;
  type: AggregatedType;
  data: Record<string, unknown>;
  /** Splits the aggregate further (the path of a fetched file); bounded by what exists. */
  key?: string;
  /** Who caused it (a client MAC or address), kept as a short sample in the aggregate. */
  source?: string;
}

/** A row to write: the occurrence's data plus `count` (and, for a summary, when and from whom). */
export interface ActivityWrite {
  node: string;
  type: AggregatedType;
  data: Record<string, unknown>;
}

interface Window {
  node: string;
  type: AggregatedType;
  /** When this window ends; until then occurrences are only counted. */
  until: number;
  folded: number;
  first: number;
  last: number;
  data: Record<string, unknown>;
  /** A sample of who caused the folded occurrences, and how many came from someone else. */
  sources: Set<string>;
  fromOtherSources: number;
}

const MAX_SOURCES = 8;

/**
 * Per (node, type, key): the first occurrence is written at once (the timeline shows a boot as it
 * happens); later ones in the same window are folded, and written as one summary row when the
 * window ends (`due`) with their `count`, first and last time, and a sample of their sources. So
 * a key writes at most one row per window, and the counts add up to every occurrence.
 */
export class ActivityAggregator {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly windowMs: number,
    /** A bound on memory; keys come from registered nodes and existing files, so it is not reached in practice. */
    private readonly maxKeys = 10_000,
  ) {}

  /** The rows to write now (none when folded). */
  offer(o: Occurrence, now: number): ActivityWrite[] {
    const id = `${o.node}\u0000${o.type}\u0000${o.key ?? ''}`;
    const w = this.windows.get(id);
    if (w && now < w.until) {
      w.folded++;
      if (w.folded === 1) w.first = now;
      w.last = now;
      w.data = o.data;
      if (o.source !== undefined) addSource(w, o.source);
      return [];
    }
    const out: ActivityWrite[] = [];
    this.windows.delete(id);
    if (this.windows.size >= this.maxKeys) out.push(...this.evictOldest());
    this.windows.set(id, fresh(o.node, o.type, now + this.windowMs));
    if (w && w.folded > 0) {
      // The window ended with occurrences not yet written (the periodic `due` had not run): this
      // row carries them along with this one, so the key still writes one row, in time order.
      if (o.source !== undefined) addSource(w, o.source);
      w.folded++;
      w.last = now;
      w.data = o.data;
      out.push(summary(w));
    } else {
      out.push({ node: o.node, type: o.type, data: { ...o.data, count: 1 } });
    }
    return out;
  }

  /** Summaries of windows that have ended; a key with nothing folded is forgotten. */
  due(now: number): ActivityWrite[] {
    const out: ActivityWrite[] = [];
    for (const [id, w] of this.windows) {
      if (now < w.until) continue;
      if (w.folded === 0) {
        this.windows.delete(id);
        continue;
      }
      out.push(summary(w));
      // The summary opens a new window, so a steady flood writes one row per window, not two.
      this.windows.set(id, fresh(w.node, w.type, now + this.windowMs));
    }
    return out;
  }

  /** Every pending summary (at shutdown). */
  drain(): ActivityWrite[] {
    const out = [...this.windows].filter(([, w]) => w.folded > 0).map(([, w]) => summary(w));
    this.windows.clear();
    return out;
  }

  private evictOldest(): ActivityWrite[] {
    const [id, w] = this.windows.entries().next().value ?? [];
    if (id === undefined || w === undefined) return [];
    this.windows.delete(id);
    return w.folded > 0 ? [summary(w)] : [];
  }
}

function fresh(node: string, type: AggregatedType, until: number): Window {
  return { node, type, until, folded: 0, first: 0, last: 0, data: {}, sources: new Set(), fromOtherSources: 0 };
}

function addSource(w: Window, source: string): void {
  if (w.sources.has(source)) return;
  if (w.sources.size < MAX_SOURCES) w.sources.add(source);
  else w.fromOtherSources++;
}

function summary(w: Window): ActivityWrite {
  return {
    node: w.node,
    type: w.type,
    data: {
      ...w.data,
      count: w.folded,
      first: new Date(w.first).toISOString(),
      last: new Date(w.last).toISOString(),
      ...(w.sources.size > 0 ? { sources: [...w.sources] } : {}),
      ...(w.fromOtherSources > 0 ? { fromOtherSources: w.fromOtherSources } : {}),
    },
  };
}

/** A token bucket: `burst` at once, then `perMinute` (the rate `discovered` rows are created at). */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  take(now: number): boolean {
    if (!this.has(now)) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether a take() now would succeed, without taking. */
  has(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perMinute) / 60_000);
    this.at = now;
    return this.tokens >= 1;
  }
}

/** How long activity events are kept; state changes are kept forever whatever this says. */
export type EventRetention = { kind: 'forever' } | { kind: 'age'; ms: number } | { kind: 'count'; events: number };

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export const RETENTION_SYNTAX = 'a duration like 30d, 12h, 90m or 2w; a count like 100000events; or forever';

/** `30d`, `12h`, `90m`, `2w`: activity older than that goes; `100000events`: the newest 100000 stay; `forever`. */
export function parseRetention(spec: string): EventRetention | undefined {
  const s = spec.trim().toLowerCase();
  if (s === 'forever') return { kind: 'forever' };
  const age = /^([1-9][0-9]{0,5})([mhdw])$/.exec(s);
  if (age) return { kind: 'age', ms: Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS] };
  const count = /^([1-9][0-9]{0,9})events?$/.exec(s);
  if (count) return { kind: 'count', events: Number(count[1]) };
  return undefined;
}

export function showRetention(r: EventRetention): string {
  if (r.kind === 'forever') return 'forever';
  if (r.kind === 'count') return `${r.events}events`;
  for (const [u, ms] of Object.entries(UNIT_MS).reverse()) if (r.ms % ms === 0) return `${r.ms / ms}${u}`;
  return `${r.ms}ms`;
}
