// Pure parsers for the text debugfs (e2fsprogs 1.46/1.47) prints. Kept apart from the process
// handling so the formats are pinned by unit tests with captured output.

import type { EntryType, Scalar } from './tree.js';

export interface LsEntry {
  inode: number;
  /** Full st_mode in octal, type bits included (e.g. 100644). */
  mode: number;
  uid: number;
  gid: number;
  name: string;
  size: number;
}

/** Parses `ls -l -p` lines: `/ino/mode/uid/gid/name/size/` (size empty for directories). */
export function parseLsP(text: string): LsEntry[] {
  const out: LsEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('/') || !line.endsWith('/')) continue;
    const body = line.slice(1, -1);
    // The name may itself be odd but cannot contain '/', so split from both ends.
    const parts = body.split('/');
    if (parts.length < 6) continue;
    const [ino, mode, uid, gid] = parts;
    const size = parts[parts.length - 1] ?? '';
    const name = parts.slice(4, -1).join('/');
    // Unused directory slots (e.g. the preallocated blocks of lost+found) list as inode 0.
    if (name === '.' || name === '..' || name === '' || Number(ino) === 0) continue;
    out.push({
      inode: Number(ino),
      mode: Number.parseInt(mode ?? '0', 8),
      uid: Number(uid),
      gid: Number(gid),
      name,
      size: size === '' ? 0 : Number(size),
    });
  }
  return out;
}

/** Splits `debugfs -f` output into the output of each command, keyed by the echoed command. */
export function splitCommandOutput(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  let buf: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('debugfs: ')) {
      if (current !== undefined) out.set(current, buf.join('\n'));
      current = line.slice('debugfs: '.length).trim();
      buf = [];
    } else if (current !== undefined) {
      buf.push(line);
    }
  }
  if (current !== undefined) out.set(current, buf.join('\n'));
  return out;
}

export function typeFromMode(mode: number): EntryType {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return 'file';
  }
}

export function permString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

export interface Extent {
  logical: number;
  physical: number;
  length: number;
  uninit: boolean;
}

export interface InodeStat {
  type: string;
  flags: string;
  links: number;
  size: number;
  mtime?: number;
  ctime?: number;
  atime?: number;
  crtime?: number;
  fastLinkTarget?: string;
  inlineDataSize?: number;
  device?: string;
  /** Extended attributes (capabilities, ACLs, SELinux labels) as `name=value` lines, sorted. */
  xattrs?: string;
  /** Data extents (or mapped block runs for block-mapped files) in file order. */
  extents: Extent[];
}

// Timestamps print as `0xSSSSSSSS:EEEEEEEE`: 32-bit seconds plus an extra word whose low two bits
// extend the seconds past 2038 and whose upper 30 bits are nanoseconds.
function decodeTime(secHex: string, extraHex: string | undefined): number {
  const raw = Number.parseInt(secHex, 16);
  const signed = raw > 0x7fffffff ? raw - 0x100000000 : raw;
  if (extraHex === undefined) return signed;
  const extra = Number.parseInt(extraHex, 16);
  const seconds = signed + (extra & 3) * 0x100000000;
  const nanos = extra >>> 2;
  return nanos === 0 ? seconds : Number(`${seconds}.${nanos.toString().padStart(9, '0')}`);
}

export function parseStat(text: string): InodeStat {
  const st: InodeStat = { type: 'unknown', flags: '0x0', links: 0, size: 0, extents: [] };
  const type = /Type:\s+(\S+)/.exec(text);
  if (type?.[1]) st.type = type[1];
  const flags = /Flags:\s+(0x[0-9a-fA-F]+)/.exec(text);
  if (flags?.[1]) st.flags = flags[1];
  const links = /Links:\s+(\d+)/.exec(text);
  if (links?.[1]) st.links = Number(links[1]);
  const size = /\bSize:\s+(\d+)\s*$/m.exec(text);
  if (size?.[1]) st.size = Number(size[1]);
  for (const m of text.matchAll(/^\s*(ctime|atime|mtime|crtime):\s+0x([0-9a-fA-F]+)(?::([0-9a-fA-F]+))?/gm)) {
    const key = m[1] as 'ctime' | 'atime' | 'mtime' | 'crtime';
    if (m[2]) st[key] = decodeTime(m[2], m[3]);
  }
  const fast = /^Fast link dest: "(.*)"$/m.exec(text);
  if (fast?.[1] !== undefined) st.fastLinkTarget = fast[1];
  const inline = /Size of inline data:\s+(\d+)/.exec(text);
  if (inline?.[1]) st.inlineDataSize = Number(inline[1]);
  const dev = /Device major\/minor number:\s+(\S+)/.exec(text);
  if (dev?.[1]) st.device = dev[1];
  const xattrs = parseXattrs(text);
  if (xattrs) st.xattrs = xattrs;
  const listStart = text.search(/^(EXTENTS|BLOCKS):/m);
  if (listStart >= 0) {
    const list = text.slice(listStart);
    // Index blocks print as (ETBn):b and indirect blocks as (IND):b; only data runs have digits first.
    for (const m of list.matchAll(/\((\d+)(?:-(\d+))?(\[u\])?\):(\d+)(?:-(\d+))?/g)) {
      const lStart = Number(m[1]);
      const lEnd = m[2] === undefined ? lStart : Number(m[2]);
      st.extents.push({ logical: lStart, physical: Number(m[4]), length: lEnd - lStart + 1, uninit: m[3] !== undefined });
    }
  }
  return st;
}

// `Extended attributes:` is followed by indented `  name (len) = value` lines.
function parseXattrs(text: string): string | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Extended attributes:'));
  if (start < 0) return undefined;
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith('  ')) break;
    const m = /^\s+(\S+) \(\d+\)(?: = (.*))?$/.exec(l);
    if (m?.[1]) out.push(`${m[1]}=${(m[2] ?? '').trim()}`);
  }
  return out.length > 0 ? out.sort().join('\n') : undefined;
}

const NUMERIC = new Set(['mountCount', 'inodeCount', 'blockCount', 'reservedBlocks', 'freeBlocks', 'freeInodes', 'blockSize', 'inodeSize']);

/** Superblock fields from `stats -h` that a rebuild must reproduce, keyed for the report. */
export function parseSuperblock(text: string): Record<string, Scalar> {
  const want: Record<string, string> = {
    'Filesystem volume name': 'label',
    'Filesystem UUID': 'uuid',
    'Directory Hash Seed': 'hashSeed',
    'Filesystem features': 'features',
    'Filesystem flags': 'flags',
    'Default mount options': 'defaultMountOptions',
    'Filesystem created': 'created',
    'Last mount time': 'lastMounted',
    'Last write time': 'lastWritten',
    'Last checked': 'lastChecked',
    'Mount count': 'mountCount',
    'Maximum mount count': 'maxMountCount',
    'Lifetime writes': 'lifetimeWrites',
    'Inode count': 'inodeCount',
    'Block count': 'blockCount',
    'Reserved block count': 'reservedBlocks',
    'Free blocks': 'freeBlocks',
    'Free inodes': 'freeInodes',
    'Block size': 'blockSize',
    'Inode size': 'inodeSize',
    'Default directory hash': 'dirHash',
    'Journal UUID': 'journalUuid',
    'Journal backup': 'journalBackup',
    'Checksum type': 'checksumType',
    Checksum: 'checksum',
    'Filesystem state': 'state',
    'Errors behavior': 'errors',
    'Filesystem OS type': 'osType',
    'Last mounted on': 'lastMountedOn',
  };
  const out: Record<string, Scalar> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z #/]+?):\s*(.*)$/.exec(line);
    if (!m?.[1]) continue;
    const key = want[m[1].trim()];
    if (!key || key in out) continue;
    const value = (m[2] ?? '').trim();
    out[key] = NUMERIC.has(key) && /^\d+$/.test(value) ? Number(value) : value;
  }
  return out;
}

/** True when debugfs could not open the filesystem (it still exits 0 in that case). */
export function openFailure(stderr: string): string | undefined {
  const line = stderr.split('\n').find((l) => /while (trying to open|opening filesystem)|Bad magic number|Filesystem not open|Superblock checksum/i.test(l));
  return line?.trim();
}
