import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { openFailure, parseLsP, parseStat, parseSuperblock, permString, splitCommandOutput, typeFromMode, type InodeStat } from './debugfs-parse.js';
import type { ContentSource, FsTree, TreeEntry } from './tree.js';
import { KilnError } from '../util/errors.js';
import { inPool } from '../util/pool.js';

// ext4 through debugfs, read-only, on the image file at the partition's offset: no mount, no root,
// no copy of the partition. debugfs runs once per directory depth (listing) plus once for all
// inode stats; file contents are then hashed straight from the image using the extents it printed.

export interface Ext4Partition {
  imagePath: string;
  offset: number;
  size: number;
}

interface Node {
  path: string;
  inode: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

const CHUNK = 1 << 20;

async function debugfs(part: Ext4Partition, commands: string[], workDir: string): Promise<string> {
  const cmdFile = join(workDir, 'commands');
  await writeFile(cmdFile, `${commands.join('\n')}\n`);
  // The io manager's offset option reads the partition in place inside the image file.
  const r = await run('debugfs', ['-f', cmdFile, `${part.imagePath}?offset=${part.offset}`], { env: { LC_ALL: 'C', TZ: 'UTC' } });
  const failure = openFailure(r.stderr);
  if (failure) throw new KilnError(`cannot read ext4 at byte ${part.offset} of ${part.imagePath}: ${failure}`);
  return r.stdout;
}

export interface Ext4Reader {
  tree: FsTree;
  content: ContentSource;
}

export async function readExt4(part: Ext4Partition): Promise<Ext4Reader> {
  const workDir = await mkdtemp(join(tmpdir(), 'kiln-ext4-'));
  let data: InodeData | undefined;
  try {
    const nodes: Node[] = [{ path: '/', inode: 2, mode: 0o040755, uid: 0, gid: 0, size: 0 }];
    let level: Node[] = [nodes[0] as Node];
    let sbText = '';
    let first = true;
    while (level.length > 0) {
      const cmds = level.map((d) => `ls -l -p <${d.inode}>`);
      if (first) cmds.unshift('stats -h');
      const sections = splitCommandOutput(await debugfs(part, cmds, workDir));
      if (first) sbText = sections.get('stats -h') ?? '';
      first = false;
      const next: Node[] = [];
      for (const dir of level) {
        const listing = sections.get(`ls -l -p <${dir.inode}>`);
        if (listing === undefined) throw new KilnError(`debugfs gave no listing for ${dir.path} (inode ${dir.inode})`);
        for (const e of parseLsP(listing)) {
          const node: Node = {
            path: dir.path === '/' ? `/${e.name}` : `${dir.path}/${e.name}`,
            inode: e.inode,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
          };
          nodes.push(node);
          if (typeFromMode(e.mode) === 'dir') next.push(node);
        }
      }
      level = next;
    }
    const meta = parseSuperblock(sbText);
    if (meta.uuid === undefined) throw new KilnError(`debugfs printed no superblock for ext4 at byte ${part.offset} of ${part.imagePath}`);

    const inodes = [...new Set(nodes.map((n) => n.inode))];
    const statSections = splitCommandOutput(
      await debugfs(
        part,
        inodes.map((i) => `stat <${i}>`),
        workDir,
      ),
    );
    const stats = new Map<number, InodeStat>();
    for (const i of inodes) {
      const text = statSections.get(`stat <${i}>`);
      if (text === undefined) throw new KilnError(`debugfs gave no stat for inode ${i}`);
      stats.set(i, parseStat(text));
    }
    const blockSize = Number(meta.blockSize);
    if (!Number.isInteger(blockSize) || blockSize <= 0) throw new KilnError(`ext4 at byte ${part.offset}: unreadable block size ${String(meta.blockSize)}`);

    data = new InodeData(part, blockSize, stats, workDir);
    const reader = data;
    const entries = new Map<string, TreeEntry>();
    for (const n of nodes) {
      const st = stats.get(n.inode);
      if (!st) continue;
      const type = typeFromMode(n.mode);
      const e: TreeEntry = {
        path: n.path,
        type,
        mode: permString(n.mode),
        uid: n.uid,
        gid: n.gid,
        size: type === 'dir' ? st.size : n.size,
        links: st.links,
        flags: st.flags,
        ...(st.mtime !== undefined ? { mtime: st.mtime } : {}),
        ...(st.ctime !== undefined ? { ctime: st.ctime } : {}),
        ...(st.atime !== undefined ? { atime: st.atime } : {}),
        ...(st.crtime !== undefined ? { crtime: st.crtime } : {}),
        ...(st.device ? { device: st.device } : {}),
        ...(st.xattrs ? { xattrs: st.xattrs } : {}),
      };
      if (type === 'symlink' && st.fastLinkTarget !== undefined) e.target = st.fastLinkTarget;
      entries.set(n.path, e);
    }
    // Content: many small positional reads, so keep several in flight; hard links hash once.
    const hashes = new Map<number, Promise<string>>();
    await inPool(nodes, 16, async (n) => {
      const e = entries.get(n.path);
      if (!e) return;
      if (e.type === 'file') {
        let h = hashes.get(n.inode);
        if (!h) {
          h = reader.hash(n.inode, n.size);
          hashes.set(n.inode, h);
        }
        e.sha256 = await h;
      } else if (e.type === 'symlink' && e.target === undefined) {
        e.target = (await reader.read(n.inode, n.size)).toString('utf8');
      }
    });
    const byPath = new Map(nodes.map((n) => [n.path, n]));
    const content: ContentSource = {
      read: async (path, maxBytes) => {
        const n = byPath.get(path);
        if (!n || typeFromMode(n.mode) !== 'file' || n.size > maxBytes) return undefined;
        return reader.read(n.inode, n.size);
      },
      dispose: async () => {
        await reader.close();
        await rm(workDir, { recursive: true, force: true });
      },
    };
    return { tree: { meta, entries }, content };
  } catch (err) {
    await data?.close();
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

/** Reads file data by extents from the image; falls back to debugfs `dump` for inline data. */
class InodeData {
  constructor(
    private readonly part: Ext4Partition,
    private readonly blockSize: number,
    private readonly stats: ReadonlyMap<number, InodeStat>,
    private readonly workDir: string,
  ) {}

  async hash(inode: number, size: number): Promise<string> {
    const h = createHash('sha256');
    await this.stream(inode, size, (chunk) => h.update(chunk));
    return h.digest('hex');
  }

  async read(inode: number, size: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.stream(inode, size, (chunk) => parts.push(Buffer.from(chunk)));
    return Buffer.concat(parts);
  }

  private async stream(inode: number, size: number, sink: (chunk: Uint8Array) => void): Promise<void> {
    const st = this.stats.get(inode);
    if (!st) throw new KilnError(`no stat for inode ${inode}`);
    if (size === 0) return;
    // Inline data (flag 0x10000000) lives inside the inode; only debugfs knows how to unpack it.
    if (st.inlineDataSize !== undefined || (Number.parseInt(st.flags, 16) & 0x10000000) !== 0) {
      sink(await this.dump(inode));
      return;
    }
    const fh = await this.handle();
    {
      const extents = [...st.extents].sort((x, y) => x.logical - y.logical);
      let pos = 0;
      for (const ext of extents) {
        const start = ext.logical * this.blockSize;
        if (start >= size) break;
        if (start > pos) pos = emitZeros(sink, pos, start);
        const end = Math.min(size, start + ext.length * this.blockSize);
        if (ext.uninit) {
          pos = emitZeros(sink, pos, end);
          continue;
        }
        const base = this.part.offset + ext.physical * this.blockSize;
        const buf = Buffer.alloc(Math.min(CHUNK, end - pos));
        while (pos < end) {
          const want = Math.min(buf.length, end - pos);
          const { bytesRead } = await fh.read(buf, 0, want, base + (pos - start));
          if (bytesRead === 0) throw new KilnError(`inode ${inode}: extent at block ${ext.physical} lies beyond the end of ${this.part.imagePath}`);
          sink(buf.subarray(0, bytesRead));
          pos += bytesRead;
        }
      }
      if (pos < size) emitZeros(sink, pos, size);
    }
  }

  // One handle for all reads: tens of thousands of files must not mean as many open() calls.
  private fh: Promise<FileHandle> | undefined;

  private handle(): Promise<FileHandle> {
    this.fh ??= open(this.part.imagePath, 'r');
    return this.fh;
  }

  async close(): Promise<void> {
    if (this.fh) await (await this.fh).close();
    this.fh = undefined;
  }

  private async dump(inode: number): Promise<Buffer> {
    const out = join(this.workDir, `inode-${inode}`);
    await debugfs(this.part, [`dump <${inode}> ${out}`], this.workDir);
    try {
      return await readFile(out);
    } finally {
      await rm(out, { force: true });
    }
  }
}

function emitZeros(sink: (chunk: Uint8Array) => void, from: number, to: number): number {
  const zero = new Uint8Array(Math.min(CHUNK, Math.max(0, to - from)));
  let pos = from;
  while (pos < to) {
    const n = Math.min(zero.length, to - pos);
    sink(zero.subarray(0, n));
    pos += n;
  }
  return pos;
}

/** Superblock fields only (UUID, label, hash seed...), one debugfs run. */
export async function readExt4Superblock(part: Ext4Partition): Promise<Record<string, string | number | boolean | null>> {
  const workDir = await mkdtemp(join(tmpdir(), 'kiln-ext4-'));
  try {
    const sections = splitCommandOutput(await debugfs(part, ['stats -h'], workDir));
    const meta = parseSuperblock(sections.get('stats -h') ?? '');
    if (meta.uuid === undefined) throw new KilnError(`debugfs printed no superblock for ext4 at byte ${part.offset} of ${part.imagePath}`);
    return meta;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
