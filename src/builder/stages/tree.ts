import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, lutimes, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileEntry } from '../../manifest/schema.js';
import type { ImageTools } from '../native/image-tools.js';
import { inPool } from '../../util/pool.js';

const tarRead = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '-p'];

/** Unpacks a tar into the tree with the lock's tar (the tree's owners, modes, xattrs and ACLs are what it sets). */
export async function extractTar(tools: ImageTools, tar: string, dir: string, opts: { keepDirs?: boolean } = {}): Promise<void> {
  await tools.run('tar', [...tarRead, ...(opts.keepDirs ? ['--no-overwrite-dir'] : []), '-xf', tar, '-C', dir]);
}

function typeOf(st: Awaited<ReturnType<typeof lstat>>): FileEntry['type'] {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/**
 * Lists a tree as the manifest records it (sorted by path, hard links named by their first path,
 * mtimes as they will be after clamping), without content hashes: one lstat per path, those of a
 * directory issued together.
 */
export async function listTree(root: string, sourceDateEpoch: number): Promise<FileEntry[]> {
  const walk = async (rel: string): Promise<{ e: FileEntry; ino: number; nlink: number }[]> => {
    const names = (await readdir(join(root, rel))).sort();
    const stats = await Promise.all(names.map(async (n) => ({ n, st: await lstat(join(root, rel, n)) })));
    const here = await Promise.all(
      stats.map(async ({ n, st }) => {
        const r = `${rel}/${n}`;
        const type = typeOf(st);
        const e: FileEntry = {
          path: r,
          type,
          mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
          uid: st.uid,
          gid: st.gid,
          // what lstat reports: a symlink's size is the length of its target
          size: type === 'file' || type === 'symlink' ? st.size : 0,
          mtime: Math.min(Math.floor(st.mtimeMs / 1000), sourceDateEpoch),
        };
        if (type === 'symlink') e.target = await readlink(join(root, r));
        const below = type === 'dir' ? await walk(r) : [];
        return [{ e, ino: st.ino, nlink: st.nlink }, ...below];
      }),
    );
    return here.flat();
  };
  const out: FileEntry[] = [];
  const inodes = new Map<number, string>();
  // hard links are resolved in manifest order, so "first path" does not depend on lstat timing
  for (const { e, ino, nlink } of await walk('')) {
    if (e.type === 'file' && nlink > 1) {
      const first = inodes.get(ino);
      if (first) {
        out.push({ ...e, type: 'hardlink', target: first });
        continue;
      }
      inodes.set(ino, e.path);
    }
    out.push(e);
  }
  return out;
}

/** Sees a file's bytes as they are read for its hash (the secret scan), so the tree is read once. */
export type ContentSink = (path: string) => { push(chunk: Buffer): void; end(): void };

const WHOLE_FILE = 8 << 20;

/**
 * Sets sha256 on every regular file entry. Reads run several at a time: one at a time, the walk
 * over 12,000 mostly small files was bound by per-file latency, not by hashing.
 */
export async function hashTree(root: string, entries: readonly FileEntry[], sink?: ContentSink, concurrency = 8): Promise<void> {
  const files = entries.filter((e) => e.type === 'file');
  await inPool(files, concurrency, async (e) => {
    const p = join(root, e.path);
    const h = createHash('sha256');
    const s = sink?.(e.path);
    if (e.size <= WHOLE_FILE) {
      const data = await readFile(p);
      h.update(data);
      s?.push(data);
    } else {
      for await (const c of createReadStream(p, { highWaterMark: 4 << 20 })) {
        h.update(c as Buffer);
        s?.push(c as Buffer);
      }
    }
    s?.end();
    e.sha256 = h.digest('hex');
  });
}

/** The tree as the manifest records it, with every regular file's sha256. */
export async function scanTree(root: string, sourceDateEpoch: number): Promise<FileEntry[]> {
  const entries = await listTree(root, sourceDateEpoch);
  await hashTree(root, entries);
  return entries;
}

/**
 * Sets atime and mtime of every entry to min(mtime, SOURCE_DATE_EPOCH). mke2fs -d copies both, and
 * reading the tree (scanTree, the overlay) moves atimes, so this runs right before mke2fs.
 */
export async function clampTimes(root: string, entries: readonly FileEntry[]): Promise<void> {
  // lutimes changes only its own inode, so the order does not matter and many can be in flight
  await inPool(entries, 16, (e) => lutimes(join(root, e.path), e.mtime, e.mtime));
  const st = await lstat(root);
  const t = Math.min(
    Math.floor(st.mtimeMs / 1000),
    entries.reduce((m, e) => Math.max(m, e.mtime), 0),
  );
  await lutimes(root, t, t);
}
