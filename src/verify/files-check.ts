import type { FileEntry, Manifest } from '../manifest/schema.js';
import { partitionBytes } from '../disk/mbr.js';
import { compareTrees, type EntryChange, type TreeEntry } from '../disk/tree.js';
import { readExt4 } from '../disk/ext4.js';
import { readFat } from '../disk/fat.js';
import type { OpenedImage } from '../disk/image.js';
import { fail, ok, skip, type Check } from './model.js';

// The per-file listings in the manifest against the trees actually in the image. Only fields the
// manifest records are compared, and only those the filesystem can hold (FAT has no owners/modes).

const SHOWN = 5;

export async function checkFileListings(img: OpenedImage, m: Manifest): Promise<Check[]> {
  const checks: Check[] = [];
  for (const mp of m.partitions) {
    const listing = mp.filesystem === 'vfat' ? m.files.boot : m.files.root;
    const subject = `partition ${mp.index} files`;
    if (listing.length === 0) {
      checks.push(skip(subject, 'the manifest lists no files for this partition'));
      continue;
    }
    const ip = img.mbr.partitions.find((p) => p.index === mp.index);
    if (!ip) continue;
    const r = partitionBytes(ip);
    const part = { imagePath: img.path, offset: r.offset, size: r.size };
    const reader = mp.filesystem === 'vfat' ? await readFat(part) : await readExt4(part);
    try {
      const fat = mp.filesystem === 'vfat';
      const expected = new Map(listing.map((e) => [e.path, fromManifest(e, fat)]));
      const actual = new Map<string, TreeEntry>();
      for (const [path, e] of reader.tree.entries) {
        // Filesystem housekeeping the build never lists.
        if (!expected.has(path) && (path === '/' || path === '/lost+found')) continue;
        actual.set(path, project(e, expected.get(path), fat));
      }
      const diffs = compareTrees(expected, actual);
      if (diffs.length === 0) checks.push(ok(subject, `${listing.length} entries match the manifest`));
      else
        checks.push(
          fail(
            subject,
            `${diffs.length} of ${listing.length} entries differ from the manifest: ${diffs.slice(0, SHOWN).map(describe).join('; ')}${diffs.length > SHOWN ? '; ...' : ''}`,
          ),
        );
    } finally {
      await reader.content.dispose();
    }
  }
  return checks;
}

function fromManifest(e: FileEntry, fat: boolean): TreeEntry {
  const type = e.type === 'hardlink' ? 'file' : e.type;
  const t: TreeEntry = { path: e.path, type, size: type === 'dir' ? 0 : e.size, mtime: fat ? fatTime(e.mtime) : e.mtime };
  if (!fat) {
    t.mode = e.mode.padStart(4, '0');
    t.uid = e.uid;
    t.gid = e.gid;
  }
  if (e.sha256 !== undefined && type === 'file') t.sha256 = e.sha256;
  if (e.target !== undefined && type === 'symlink') t.target = e.target;
  return t;
}

/** Keeps only the fields the manifest entry has, so absent fields do not count as differences. */
function project(e: TreeEntry, want: TreeEntry | undefined, fat: boolean): TreeEntry {
  const t: TreeEntry = { path: e.path, type: e.type, size: e.type === 'dir' ? 0 : e.size };
  if (e.mtime !== undefined) t.mtime = fat ? fatTime(e.mtime) : Math.floor(e.mtime);
  if (!fat) {
    t.mode = e.mode;
    t.uid = e.uid;
    t.gid = e.gid;
  }
  if (want?.sha256 !== undefined || !want) t.sha256 = e.sha256;
  if (want?.target !== undefined || !want) t.target = e.target;
  return t;
}

// FAT keeps modification times in 2-second steps.
function fatTime(t: number): number {
  return Math.floor(t / 2) * 2;
}

function describe(d: EntryChange): string {
  if (d.change === 'added') return `${d.name} is in the image but not the manifest`;
  if (d.change === 'removed') return `${d.name} is in the manifest but not the image`;
  return `${d.name}: ${d.fields.map((f) => `${f.field} ${String(f.a)} → ${String(f.b)}`).join(', ')}`;
}
