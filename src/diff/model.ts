// Shapes shared by the readers (which fill them from bytes and tools) and the comparer (which only
// looks at them). Keeping them plain data is what lets the comparer be tested without any tool.

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

export type LayerStatus = 'same' | 'different' | 'not-compared';

export interface Layer {
  id: string;
  title: string;
  status: LayerStatus;
  /** Why a layer was not compared, or a hint about where the difference lies. */
  note?: string;
  fields: FieldChange[];
  entries: EntryChange[];
}

export interface SideSummary {
  label: string;
  image: string;
  manifest?: string;
  size?: number;
  sha256?: string;
}

export interface DiffReport {
  kilnDiffVersion: 1;
  a: SideSummary;
  b: SideSummary;
  identical: boolean;
  /** Ordered outermost first; the text report leads with the first differing one. */
  layers: Layer[];
}
