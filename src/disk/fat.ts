import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { readAt } from './bytes.js';
import { fatMeta, parseFatBootSector } from './fat-bpb.js';
import type { ContentSource, FsTree, TreeEntry } from './tree.js';
import { KilnError } from '../util/errors.js';

// FAT through mtools on the image at the partition's offset (`-i image@@offset`): no mount, no
// root. mattrib lists every path with its attribute bits; one mcopy extracts the tree (boot
// partitions are small) so sizes, 2-second mtimes and contents come from a single process.

export interface FatPartition {
  imagePath: string;
  offset: number;
  size: number;
}

// mtools interprets FAT's local-time stamps in TZ; pinning UTC makes both sides read alike.
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LC_ALL: 'C.UTF-8' };

export interface FatReader {
  tree: FsTree;
  content: ContentSource;
}

export function parseMattrib(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const at = line.indexOf('::/');
    if (at < 0) continue;
    const path = line.slice(at + 2);
    if (path === '/') continue;
    out.set(path.replace(/\/$/, ''), line.slice(0, at).replace(/\s+/g, ''));
  }
  return out;
}

export async function readFat(part: FatPartition): Promise<FatReader> {
  const bs = parseFatBootSector(await readAt(part.imagePath, part.offset, 512));
  if (!bs) throw new KilnError(`no FAT boot sector at byte ${part.offset} of ${part.imagePath}`);
  const drive = `${part.imagePath}@@${part.offset}`;
  const attrs = parseMattrib((await run('mattrib', ['-/', '-i', drive, '::/'], { env: MTOOLS_ENV })).stdout);
  const workDir = await mkdtemp(join(tmpdir(), 'kiln-fat-'));
  try {
    const root = join(workDir, 'tree');
    await mkdir(root);
    if (attrs.size > 0) await run('mcopy', ['-s', '-p', '-m', '-n', '-Q', '-i', drive, '::/*', `${root}/`], { env: MTOOLS_ENV });
    const entries = new Map<string, TreeEntry>();
    await walk(root, '', entries, attrs);
    for (const path of attrs.keys()) {
      if (!entries.has(path)) throw new KilnError(`mcopy did not extract ${path} from the FAT partition at byte ${part.offset}`);
    }
    const content: ContentSource = {
      read: async (path, maxBytes) => {
        const e = entries.get(path);
        if (e?.type !== 'file' || e.size > maxBytes) return undefined;
        return readFile(join(root, path));
      },
      dispose: () => rm(workDir, { recursive: true, force: true }),
    };
    return { tree: { meta: fatMeta(bs), entries }, content };
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

async function walk(base: string, rel: string, out: Map<string, TreeEntry>, attrs: ReadonlyMap<string, string>): Promise<void> {
  const names = (await readdir(join(base, rel))).sort();
  for (const name of names) {
    const path = `${rel}/${name}`;
    const full = join(base, path);
    const st = await lstat(full);
    const type = st.isDirectory() ? 'dir' : 'file';
    const e: TreeEntry = {
      path,
      type,
      size: type === 'dir' ? 0 : st.size,
      mtime: Math.round(st.mtimeMs) / 1000,
      attributes: attrs.get(path) ?? '',
    };
    if (type === 'file') e.sha256 = await hashFile(full);
    out.set(path, e);
    if (type === 'dir') await walk(base, path, out, attrs);
  }
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
