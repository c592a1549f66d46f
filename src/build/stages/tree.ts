import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, lutimes, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileEntry } from '../manifest.js';
import { run } from '../../util/exec.js';

const tarRead = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '-p'];

export async function extractTar(tar: string, dir: string, opts: { keepDirs?: boolean } = {}): Promise<void> {
  await run('tar', [...tarRead, ...(opts.keepDirs ? ['--no-overwrite-dir'] : []), '-xf', tar, '-C', dir]);
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

async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * Lists a tree as the manifest records it (sorted by path, hard links named by their first path,
 * mtimes as they will be after clamping). Reading files changes their atime, so clamp afterwards.
 */
export async function scanTree(root: string, sourceDateEpoch: number): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  const inodes = new Map<number, string>();
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const n of names) {
      const r = `${rel}/${n}`;
      const p = join(root, r);
      const st = await lstat(p, { bigint: false });
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
      if (type === 'file' && st.nlink > 1) {
        const first = inodes.get(st.ino);
        if (first) {
          out.push({ ...e, type: 'hardlink', target: first });
          continue;
        }
        inodes.set(st.ino, r);
      }
      if (type === 'file') e.sha256 = await hashFile(p);
      if (type === 'symlink') e.target = await readlink(p);
      out.push(e);
      if (type === 'dir') await walk(r);
    }
  };
  await walk('');
  return out;
}

/**
 * Sets atime and mtime of every entry to min(mtime, SOURCE_DATE_EPOCH). mke2fs -d copies both, and
 * reading the tree (scanTree, the overlay) moves atimes, so this runs right before mke2fs.
 */
export async function clampTimes(root: string, entries: readonly FileEntry[]): Promise<void> {
  // deepest first, so fixing a child never disturbs a parent already done
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    await lutimes(join(root, e.path), e.mtime, e.mtime);
  }
  const st = await lstat(root);
  const t = Math.min(Math.floor(st.mtimeMs / 1000), entries.reduce((m, e) => Math.max(m, e.mtime), 0));
  await lutimes(root, t, t);
}
