import { compareFields, type EntryChange, type FieldChange, type Scalar } from '../disk/tree.js';
import type { Layer, LayerStatus } from './model.js';

// Keyed records and report layers; tree comparison itself is src/disk/tree.ts.

/** Keyed records (packages, artifacts, tools) compared as added/removed/changed entries. */
export function compareKeyed<T>(
  kind: string,
  a: readonly T[],
  b: readonly T[],
  key: (t: T) => string,
  fields: (t: T) => Record<string, Scalar>,
): EntryChange[] {
  const ma = new Map(a.map((t) => [key(t), t]));
  const mb = new Map(b.map((t) => [key(t), t]));
  const keys = [...new Set([...ma.keys(), ...mb.keys()])].sort();
  const out: EntryChange[] = [];
  for (const k of keys) {
    const ta = ma.get(k);
    const tb = mb.get(k);
    const fa = ta ? fields(ta) : {};
    const fb = tb ? fields(tb) : {};
    const changes = compareFields(fa, fb);
    if (!ta) out.push({ name: k, change: 'added', kind, fields: changes });
    else if (!tb) out.push({ name: k, change: 'removed', kind, fields: changes });
    else if (changes.length > 0) out.push({ name: k, change: 'changed', kind, fields: changes });
  }
  return out;
}

export function makeLayer(id: string, title: string, fields: FieldChange[], entries: EntryChange[], note?: string): Layer {
  const status: LayerStatus = fields.length > 0 || entries.length > 0 ? 'different' : 'same';
  return { id, title, status, fields, entries, ...(note ? { note } : {}) };
}

export function notCompared(id: string, title: string, note: string): Layer {
  return { id, title, status: 'not-compared', note, fields: [], entries: [] };
}
