import type { EntryChange, FieldChange, Layer, LayerStatus, Scalar, TreeEntry } from './model.js';

// Pure comparison of already-read data. Readers decide what to read; this decides what differs.

/** Field-by-field difference of two flat records; keys missing on one side compare as null. */
export function compareFields(a: Record<string, Scalar | undefined>, b: Record<string, Scalar | undefined>): FieldChange[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const out: FieldChange[] = [];
  for (const k of keys) {
    const va = a[k] ?? null;
    const vb = b[k] ?? null;
    if (va !== vb) out.push({ field: k, a: va, b: vb });
  }
  return out;
}

// The order here is the order fields appear in reports: identity first, then content.
const TREE_FIELDS = [
  'type',
  'mode',
  'uid',
  'gid',
  'attributes',
  'size',
  'target',
  'device',
  'xattrs',
  'sha256',
  'mtime',
  'ctime',
  'atime',
  'crtime',
  'links',
  'flags',
] as const satisfies readonly (keyof TreeEntry)[];

/** Files added, removed and changed between two trees, sorted by path. */
export function compareTrees(a: ReadonlyMap<string, TreeEntry>, b: ReadonlyMap<string, TreeEntry>): EntryChange[] {
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort(comparePaths);
  const out: EntryChange[] = [];
  for (const path of paths) {
    const ea = a.get(path);
    const eb = b.get(path);
    if (ea && !eb) {
      out.push({ name: path, change: 'removed', kind: ea.type, fields: describe(ea, 'a') });
    } else if (!ea && eb) {
      out.push({ name: path, change: 'added', kind: eb.type, fields: describe(eb, 'b') });
    } else if (ea && eb) {
      const fields: FieldChange[] = [];
      for (const f of TREE_FIELDS) {
        const va = ea[f] ?? null;
        const vb = eb[f] ?? null;
        if (va !== vb) fields.push({ field: f, a: va, b: vb });
      }
      if (fields.length > 0) out.push({ name: path, change: 'changed', kind: ea.type === eb.type ? ea.type : `${ea.type}→${eb.type}`, fields });
    }
  }
  return out;
}

/** The attributes of a one-sided entry, shown on its own side. */
function describe(e: TreeEntry, side: 'a' | 'b'): FieldChange[] {
  const out: FieldChange[] = [];
  for (const f of ['mode', 'uid', 'gid', 'size', 'target', 'sha256'] as const) {
    const v = e[f];
    if (v === undefined) continue;
    out.push(side === 'a' ? { field: f, a: v, b: null } : { field: f, a: null, b: v });
  }
  return out;
}

/** Sort so a directory's children follow it, byte-wise like `LC_ALL=C sort`. */
export function comparePaths(x: string, y: string): number {
  const a = x.split('/');
  const b = y.split('/');
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const pa = a[i] ?? '';
    const pb = b[i] ?? '';
    if (pa !== pb) return pa < pb ? -1 : 1;
  }
  return a.length - b.length;
}

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
