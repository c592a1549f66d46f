import { canonicalJson } from '../util/hash.js';

// Pure part of the stage cache: given the named inputs of a stage now and of earlier entries, say
// which inputs differ, so a slow cache miss (a 20-minute rootfs) names its cause instead of leaving
// the user to guess which edit invalidated it.

/** A stage's named inputs; its cache key is the hash of this object. */
export type StageInputs = Record<string, unknown>;

export interface InputChange {
  name: string;
  kind: 'added' | 'removed' | 'changed';
  /** Short human detail: "3 added, 2 removed" for lists, "customize" for objects, "6 → 7" for short scalars. */
  detail?: string;
}

/** What to call an input's list items in messages (`debs` → "packages"). */
export type Nouns = Readonly<Record<string, string>>;

export function diffInputs(prev: StageInputs, next: StageInputs, nouns: Nouns = {}): InputChange[] {
  const out: InputChange[] = [];
  for (const name of [...new Set([...Object.keys(prev), ...Object.keys(next)])].sort()) {
    const inPrev = Object.hasOwn(prev, name);
    const inNext = Object.hasOwn(next, name);
    if (!inPrev) out.push({ name, kind: 'added' });
    else if (!inNext) out.push({ name, kind: 'removed' });
    else if (canonicalJson(prev[name]) !== canonicalJson(next[name]))
      out.push({ name, kind: 'changed', detail: detailOf(prev[name], next[name], nouns[name]) });
  }
  return out;
}

function detailOf(a: unknown, b: unknown, noun: string | undefined): string | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    // multiset difference: a list input is usually a sorted set (package hashes, include list)
    const count = new Map<string, number>();
    for (const v of a) count.set(canonicalJson(v), (count.get(canonicalJson(v)) ?? 0) + 1);
    let added = 0;
    for (const v of b) {
      const k = canonicalJson(v);
      const n = count.get(k) ?? 0;
      if (n > 0) count.set(k, n - 1);
      else added++;
    }
    const removed = [...count.values()].reduce((s, n) => s + n, 0);
    const what = noun ?? 'entries';
    if (added === removed) return added === 0 ? 'order changed' : `${added} ${what} differ`;
    if (removed === 0) return `${added} ${what} added`;
    if (added === 0) return `${removed} ${what} removed`;
    return `${added} ${what} added, ${removed} removed`;
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = diffInputs(a, b).map((c) => c.name);
    return keys.length ? keys.join(', ') : undefined;
  }
  const sa = typeof a === 'string' ? a : canonicalJson(a);
  const sb = typeof b === 'string' ? b : canonicalJson(b);
  if (sa.length <= 40 && sb.length <= 40 && !sa.includes('\n') && !sb.includes('\n')) return `${sa} → ${sb}`;
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "input `debs` changed (3 packages differ), `hooks` changed (customize)" */
export function describeChanges(changes: readonly InputChange[]): string {
  if (changes.length === 0) return 'the inputs are unchanged (the entry was missing or unreadable)';
  return changes
    .map((c, i) => `${i === 0 ? 'input ' : ''}\`${c.name}\` ${c.kind === 'added' ? 'is new' : c.kind}${c.detail ? ` (${c.detail})` : ''}`)
    .join(', ');
}

export interface EarlierEntry {
  inputs: StageInputs;
  /** ms since the epoch; breaks ties toward the most recent entry */
  createdAt: number;
}

/**
 * The earlier entry a miss is explained against: the one with the fewest changed inputs (the
 * build it most resembles, e.g. the same spec before an edit, not another spec that shares the
 * cache), the newest among equals.
 */
export function closestEntry<E extends EarlierEntry>(entries: readonly E[], inputs: StageInputs): { entry: E; changes: InputChange[] } | undefined {
  let best: { entry: E; changes: InputChange[] } | undefined;
  for (const entry of entries) {
    const changes = diffInputs(entry.inputs, inputs);
    if (!best || changes.length < best.changes.length || (changes.length === best.changes.length && entry.createdAt > best.entry.createdAt))
      best = { entry, changes };
  }
  return best;
}

/** The progress line for a miss: `cache miss: input \`debs\` changed (…)`. */
export function explainMiss(entries: readonly EarlierEntry[], inputs: StageInputs, nouns: Nouns = {}): string {
  const best = closestEntry(entries, inputs);
  if (!best) return 'cache miss: no earlier entry for this stage';
  return `cache miss: ${describeChanges(diffInputs(best.entry.inputs, inputs, nouns))}`;
}
