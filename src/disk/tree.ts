// A filesystem tree as data: what the ext4 and FAT readers fill from an image's bytes and what
// diff and verify compare. Plain data and pure comparisons, so both are tested without a tool.

export type Scalar = string | number | boolean | null;

export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** One path in a filesystem tree, with the attributes a rebuild must reproduce. */
export interface TreeEntry {
  path: string;
  type: EntryType;
  /** Octal permission bits incl. setuid/sticky ("0755"); FAT has none and uses attributes instead. */
  mode?: string;
  uid?: number;
  gid?: number;
  size: number;
  /** Seconds since the epoch; fractional part kept when the filesystem stores it. */
  mtime?: number;
  /** Inode times beyond mtime (ext4): they are in the bytes, so they explain byte differences. */
  ctime?: number;
  atime?: number;
  crtime?: number;
  /** FAT attribute letters as mattrib prints them (A, R, S, H). */
  attributes?: string;
  links?: number;
  flags?: string;
  target?: string;
  sha256?: string;
  /** Device numbers for char/block nodes. */
  device?: string;
  /** Extended attributes as sorted `name=value` lines (ext4: file capabilities, ACLs). */
  xattrs?: string;
}

export interface FsTree {
  /** Filesystem-level fields (UUID, label, hash seed, volume id, creation times, geometry...). */
  meta: Record<string, Scalar>;
  entries: Map<string, TreeEntry>;
}

/** Reads file content back for text diffs; readers implement it with their own tool. */
export interface ContentSource {
  read(path: string, maxBytes: number): Promise<Buffer | undefined>;
  dispose(): Promise<void>;
}

export interface FieldChange {
  field: string;
  a: Scalar;
  b: Scalar;
}

export type ChangeKind = 'added' | 'removed' | 'changed';

/** A named thing that exists in one or both sides: a file, a package, an artifact, a tool. */
export interface EntryChange {
  name: string;
  change: ChangeKind;
  /** Short description of the kind of thing ("file", "symlink", "package"...). */
  kind: string;
  fields: FieldChange[];
  unifiedDiff?: string;
  note?: string;
}

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
