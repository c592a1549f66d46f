import { formatDiskId, partUuid, partitionBytes, type MbrPartition } from '../disk/mbr.js';
import { sha256 } from '../util/hash.js';
import { log } from '../util/log.js';
import { compareRanges, readAt } from '../disk/bytes.js';
import { makeLayer, notCompared } from './compare.js';
import { compareFields, compareTrees, type ContentSource, type EntryChange, type FsTree, type Scalar } from '../disk/tree.js';
import { readExt4 } from '../disk/ext4.js';
import { readFat } from '../disk/fat.js';
import { detectFs, type FsKind } from '../disk/fstype.js';
import { locate, openImage, partitionRange, type OpenedImage } from '../disk/image.js';
import { compareManifests } from './manifest-compare.js';
import type { DiffReport, Layer } from './model.js';
import type { Source } from '../manifest/source.js';
import { looksLikeText, unifiedDiff } from './textdiff.js';
import { KilnError } from '../util/errors.js';

// Walks the layers outside-in and stops descending wherever a layer is byte-identical: equal
// images end after one streamed compare-and-hash pass; an equal partition is never opened with
// debugfs or mtools.

export interface DiffOptions {
  /** Text files up to this size get a unified diff; larger or binary ones get sizes and hashes. */
  textLimit?: number;
  /** At most this many unified diffs per partition, to keep reports readable. */
  maxTextDiffs?: number;
  /** Compare image bytes only, ignoring manifests. */
  bytesOnly?: boolean;
}

export async function diffSources(a: Source, b: Source, opts: DiffOptions = {}): Promise<DiffReport> {
  const [ia, ib] = await Promise.all([openImage(a.imagePath, a.label), openImage(b.imagePath, b.label)]);
  const whole = await compareRanges({ path: ia.path, offset: 0, length: ia.size }, { path: ib.path, offset: 0, length: ib.size });
  const shaA = whole.sha256A;
  const shaB = whole.sha256B;
  const layers: Layer[] = [];

  const imageFields = compareFields({ size: ia.size, sha256: shaA }, { size: ib.size, sha256: shaB });
  const first = whole.firstDifference;
  if (first !== undefined) {
    imageFields.push({ field: 'firstDifferenceOffset', a: first, b: first });
    imageFields.push({ field: 'firstDifference', a: locate(ia, first), b: locate(ib, first) });
  }
  layers.push(makeLayer('image', 'Image bytes', imageFields, []));

  if (imageFields.length > 0) {
    layers.push(tableLayer(ia, ib));
    for (const pa of ia.mbr.partitions) {
      const pb = ib.mbr.partitions.find((p) => p.index === pa.index);
      if (pb) layers.push(...(await partitionLayers(ia, ib, pa, pb, opts)));
    }
  }

  if (!opts.bytesOnly) {
    if (a.manifest && b.manifest) layers.push(...compareManifests(a.manifest, b.manifest));
    else if (a.manifest || b.manifest) {
      layers.push(notCompared('manifest', 'Manifest', `only ${a.manifest ? a.label : b.label} has a manifest; the other side is a bare image`));
    }
  }

  return {
    kilnDiffVersion: 1,
    a: { label: a.label, image: ia.path, ...(a.manifestPath ? { manifest: a.manifestPath } : {}), size: ia.size, sha256: shaA },
    b: { label: b.label, image: ib.path, ...(b.manifestPath ? { manifest: b.manifestPath } : {}), size: ib.size, sha256: shaB },
    identical: layers.every((l) => l.status !== 'different'),
    layers,
  };
}

function tableFields(img: OpenedImage): Record<string, Scalar> {
  const out: Record<string, Scalar> = {
    scheme: 'mbr',
    diskId: formatDiskId(img.mbr.diskId),
    partitions: img.mbr.partitions.length,
    bootCodeSha256: sha256(img.mbr.bootCode),
    // The table bytes include CHS fields the parsed values do not show.
    tableSectorSha256: sha256(img.sector0),
  };
  for (const p of img.mbr.partitions) {
    const r = partitionBytes(p);
    const k = `partition${p.index}`;
    out[`${k}.type`] = `0x${p.type.toString(16).padStart(2, '0')}`;
    out[`${k}.bootable`] = p.bootable;
    out[`${k}.startSector`] = p.startLba;
    out[`${k}.sectors`] = p.sectors;
    out[`${k}.offset`] = r.offset;
    out[`${k}.size`] = r.size;
    out[`${k}.partuuid`] = partUuid(img.mbr.diskId, p.index);
  }
  return out;
}

function tableLayer(a: OpenedImage, b: OpenedImage): Layer {
  const fields = compareFields(tableFields(a), tableFields(b));
  // A changed disk id changes every PARTUUID and the sector hash; say it once.
  const shown = fields.some((f) => f.field === 'diskId')
    ? fields.filter((f) => !f.field.endsWith('.partuuid') && f.field !== 'tableSectorSha256')
    : fields.length > 1
      ? fields.filter((f) => f.field !== 'tableSectorSha256')
      : fields;
  return makeLayer('partition-table', 'Partition table (MBR)', shown, []);
}

async function partitionLayers(ia: OpenedImage, ib: OpenedImage, pa: MbrPartition, pb: MbrPartition, opts: DiffOptions): Promise<Layer[]> {
  const n = pa.index;
  const ra = partitionRange(ia, pa);
  const rb = partitionRange(ib, pb);
  const cmp = await compareRanges(ra, rb);
  if (cmp.sha256A === cmp.sha256B) return [makeLayer(`partition${n}`, `Partition ${n}: bytes`, [], [], 'identical bytes; not opened')];
  const [ka, kb] = await Promise.all([fsKind(ia, ra.offset), fsKind(ib, rb.offset)]);
  const bytesFields = compareFields({ sha256: cmp.sha256A, filesystem: ka }, { sha256: cmp.sha256B, filesystem: kb });
  if (cmp.firstDifference !== undefined) bytesFields.push({ field: 'firstDifferenceInPartition', a: cmp.firstDifference, b: cmp.firstDifference });
  const layers = [makeLayer(`partition${n}`, `Partition ${n}: bytes`, bytesFields, [])];
  // One side readable and the other not is damage, not a difference worth a layer-by-layer report.
  if (ka === 'unknown' && kb !== 'unknown')
    throw new KilnError(`${ia.label}: partition ${n} holds no recognizable filesystem (the other side has ${kb}): corrupt image`);
  if (kb === 'unknown' && ka !== 'unknown')
    throw new KilnError(`${ib.label}: partition ${n} holds no recognizable filesystem (the other side has ${ka}): corrupt image`);
  if (ka !== kb || ka === 'unknown') {
    layers.push(notCompared(`partition${n}:filesystem`, `Partition ${n}: filesystem`, `cannot compare filesystems ${ka} and ${kb}`));
    return layers;
  }
  log.debug({ partition: n, fs: ka }, 'reading filesystems');
  const [sa, sb] = await readBoth(ka, ra, rb);
  try {
    const metaFields = compareFields(sa.tree.meta, sb.tree.meta);
    const files = compareTrees(sa.tree.entries, sb.tree.entries);
    await addTextDiffs(files, sa.tree, sb.tree, sa.content, sb.content, n, opts);
    const fsTitle = ka === 'ext4' ? 'ext4 metadata (superblock)' : 'FAT metadata (boot sector)';
    layers.push(makeLayer(`partition${n}:filesystem`, `Partition ${n}: ${fsTitle}`, metaFields, []));
    const residual =
      metaFields.length === 0 && files.length === 0
        ? `the bytes differ (first at byte ${cmp.firstDifference ?? '?'} of the partition) but no file or tracked metadata does: ` +
          'look at free space, directory order, allocation or the journal'
        : undefined;
    layers.push(makeLayer(`partition${n}:files`, `Partition ${n}: files`, [], files, residual));
    return layers;
  } finally {
    await Promise.all([sa.content.dispose(), sb.content.dispose()]);
  }
}

async function fsKind(img: OpenedImage, offset: number): Promise<FsKind> {
  return detectFs(await readAt(img.path, offset, 2048));
}

/** Reads both sides; when one fails, the other's temporary files are still cleaned up. */
async function readBoth(kind: FsKind, ra: PartRange, rb: PartRange): Promise<[FsReader, FsReader]> {
  const [a, b] = await Promise.allSettled([readFs(kind, ra), readFs(kind, rb)]);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  if (a.status === 'fulfilled') await a.value.content.dispose();
  if (b.status === 'fulfilled') await b.value.content.dispose();
  throw a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
}

type PartRange = { path: string; offset: number; length: number };
type FsReader = { tree: FsTree; content: ContentSource };

async function readFs(kind: FsKind, r: PartRange): Promise<FsReader> {
  const part = { imagePath: r.path, offset: r.offset, size: r.length };
  return kind === 'ext4' ? readExt4(part) : readFat(part);
}

async function addTextDiffs(files: EntryChange[], ta: FsTree, tb: FsTree, ca: ContentSource, cb: ContentSource, n: number, opts: DiffOptions): Promise<void> {
  const limit = opts.textLimit ?? 256 * 1024;
  let budget = opts.maxTextDiffs ?? 50;
  for (const f of files) {
    if (f.change !== 'changed' || !f.fields.some((x) => x.field === 'sha256')) continue;
    const ea = ta.entries.get(f.name);
    const eb = tb.entries.get(f.name);
    if (ea?.type !== 'file' || eb?.type !== 'file') continue;
    if (ea.size > limit || eb.size > limit) {
      f.note = `content differs; larger than ${limit} bytes, no text diff`;
      continue;
    }
    if (budget <= 0) {
      f.note = 'content differs; text diff limit reached';
      continue;
    }
    const [ba, bb] = await Promise.all([ca.read(f.name, limit), cb.read(f.name, limit)]);
    if (!ba || !bb) continue;
    if (!looksLikeText(ba) || !looksLikeText(bb)) {
      f.note = `binary content differs (${ba.length} → ${bb.length} bytes)`;
      continue;
    }
    const d = unifiedDiff(ba.toString('utf8'), bb.toString('utf8'), `a/p${n}${f.name}`, `b/p${n}${f.name}`);
    if (d === undefined) f.note = 'text differs in too many lines for a readable diff';
    else f.unifiedDiff = d;
    budget--;
  }
}
