import { MbrError, SECTOR_SIZE, checkFits, parseMbr, partitionBytes, type Mbr, type MbrPartition } from './mbr.js';
import { fileSize, readAt } from './bytes.js';
import { KilnError } from '../util/errors.js';

// An image opened for reading: its size and partition table, checked to fit. Corrupt or truncated
// images stop here with a message that names the image and what is wrong with it.

export interface OpenedImage {
  label: string;
  path: string;
  size: number;
  mbr: Mbr;
  sector0: Buffer;
}

export async function openImage(path: string, label: string): Promise<OpenedImage> {
  const size = await fileSize(path);
  if (size < SECTOR_SIZE) throw new KilnError(`${label}: not an MBR image: ${size} bytes, smaller than one sector`);
  const sector0 = await readAt(path, 0, SECTOR_SIZE);
  let mbr: Mbr;
  try {
    mbr = parseMbr(sector0);
  } catch (err) {
    if (err instanceof MbrError) throw new KilnError(`${label}: ${err.message}`);
    throw err;
  }
  if (mbr.partitions.length === 0) throw new KilnError(`${label}: not an MBR image: the partition table is empty`);
  const misfit = checkFits(mbr, size);
  if (misfit) throw new KilnError(`${label}: ${misfit}`);
  return { label, path, size, mbr, sector0 };
}

/** Names the region an image byte falls in, for "first difference at ..." lines. */
export function locate(img: Pick<OpenedImage, 'mbr'>, offset: number): string {
  if (offset < SECTOR_SIZE) return `byte ${offset} (MBR sector)`;
  for (const p of img.mbr.partitions) {
    const r = partitionBytes(p);
    if (offset >= r.offset && offset < r.end) return `byte ${offset} (partition ${p.index}, byte ${offset - r.offset} inside it)`;
  }
  return `byte ${offset} (outside every partition)`;
}

export function partitionRange(img: OpenedImage, p: MbrPartition): { path: string; offset: number; length: number } {
  const r = partitionBytes(p);
  return { path: img.path, offset: r.offset, length: r.size };
}
