import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack, type Pack } from 'tar-stream';
import type { OverlayFile, OverlaySymlink } from './overlay-files.js';
import { KilnError } from '../../util/errors.js';

export interface OverlayBlob {
  path: string;
  mode: number;
  /** A file on disk (a cached artifact), streamed into the tar. */
  source: string;
}

export interface OverlayInput {
  files: OverlayFile[];
  blobs: OverlayBlob[];
  symlinks: OverlaySymlink[];
  dirs: string[];
  mtime: number;
}

type Entry =
  | { kind: 'dir'; path: string }
  | { kind: 'file'; path: string; mode: number; content: string | Buffer }
  | { kind: 'blob'; path: string; mode: number; source: string }
  | { kind: 'symlink'; path: string; target: string };

/**
 * Orders entries by path and adds every parent directory, so the tar is the same bytes whatever the
 * order the caller listed things in. Pure: the unit tests check it without touching disk.
 */
export function overlayEntries(input: Omit<OverlayInput, 'mtime'>): Entry[] {
  const entries = new Map<string, Entry>();
  const addParents = (p: string): void => {
    for (let d = dirname(p); d !== '/' && !entries.has(d); d = dirname(d)) entries.set(d, { kind: 'dir', path: d });
  };
  const put = (e: Entry): void => {
    const earlier = entries.get(e.path);
    if (earlier !== undefined && earlier.kind !== 'dir') throw new KilnError(`overlay: ${e.path} is given twice`);
    entries.set(e.path, e);
    addParents(e.path);
  };
  for (const d of input.dirs) put({ kind: 'dir', path: d });
  for (const f of input.files) put({ kind: 'file', path: f.path, mode: f.mode, content: f.content });
  for (const b of input.blobs) put({ kind: 'blob', path: b.path, mode: b.mode, source: b.source });
  for (const s of input.symlinks) put({ kind: 'symlink', path: s.path, target: s.target });
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Writes the overlay as a tar (root-owned, mtime = SOURCE_DATE_EPOCH, sorted). */
export async function writeOverlayTar(input: OverlayInput, out: string): Promise<number> {
  const tar = pack();
  const mtime = new Date(input.mtime * 1000);
  const done = pipeline(tar, createWriteStream(out));
  const entries = overlayEntries(input);
  for (const e of entries) await addEntry(tar, e, mtime);
  tar.finalize();
  await done;
  return entries.length;
}

async function addEntry(tar: Pack, e: Entry, mtime: Date): Promise<void> {
  const name = e.path.slice(1);
  const base = { name, mtime, uid: 0, gid: 0, uname: 'root', gname: 'root' };
  switch (e.kind) {
    case 'dir':
      await entry(tar, { ...base, type: 'directory', mode: 0o755 });
      return;
    case 'symlink':
      await entry(tar, { ...base, type: 'symlink', linkname: e.target, mode: 0o777 });
      return;
    case 'file':
      await entry(tar, { ...base, type: 'file', mode: e.mode }, Buffer.from(e.content));
      return;
    case 'blob': {
      const size = (await stat(e.source)).size;
      await new Promise<void>((resolve, reject) => {
        const w = tar.entry({ ...base, type: 'file', mode: e.mode, size }, (err) => (err ? reject(err) : resolve()));
        createReadStream(e.source).on('error', reject).pipe(w);
      });
    }
  }
}

function entry(tar: Pack, header: Parameters<Pack['entry']>[0], body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    tar.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}
