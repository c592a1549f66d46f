import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { serializeMbr, SECTOR_SIZE, formatDiskId, parseDiskId } from '../../disk/mbr.js';

export const BLOCK = 4096;
/** First partition at 4 MiB: aligned for SD erase blocks, room for the MBR. */
export const FIRST_LBA = 8192;

export interface PartitionSource {
  path: string;
  type: number;
  bootable: boolean;
  sizeBytes: number;
}

export interface LaidPartition {
  index: number;
  type: number;
  bootable: boolean;
  startSector: number;
  sectors: number;
  offset: number;
  size: number;
  sha256: string;
}

export interface BmapRange {
  first: number;
  last: number;
  sha256: string;
}

export interface DiskResult {
  size: number;
  sha256: string;
  partitions: LaidPartition[];
  ranges: BmapRange[];
  mappedBlocks: number;
}

const ZERO = Buffer.alloc(BLOCK);

/**
 * Assembles the MBR disk image in one pass: partitions are copied at their offsets, all-zero blocks
 * are left as holes (so the image file is sparse and cheap to copy), and the same pass computes the
 * image sha256, each partition's sha256 and the block map of non-zero blocks with per-range sha256.
 */
export async function assembleDisk(out: string, diskId: string, parts: readonly PartitionSource[]): Promise<DiskResult> {
  let lba = FIRST_LBA;
  const laid = parts.map((p, i) => {
    if (p.sizeBytes % (1 << 20) !== 0) throw new Error(`partition ${i + 1} size ${p.sizeBytes} is not whole MiB`);
    const start = lba;
    lba += p.sizeBytes / SECTOR_SIZE;
    return { index: i + 1, type: p.type, bootable: p.bootable, startLba: start, sectors: p.sizeBytes / SECTOR_SIZE };
  });
  const size = lba * SECTOR_SIZE;
  const mbr = serializeMbr({ diskId: parseDiskId(diskId), partitions: laid });
  if (formatDiskId(parseDiskId(diskId)) !== diskId) throw new Error(`disk id ${diskId} is not 8 lowercase hex digits`);

  const fh = await open(out, 'w');
  try {
    await fh.truncate(size);
    const w = new BlockWriter(fh);
    const first = Buffer.alloc(BLOCK);
    mbr.copy(first, 0);
    await w.block(first);
    await w.zeros(FIRST_LBA * SECTOR_SIZE - BLOCK);
    const partitions: LaidPartition[] = [];
    for (let i = 0; i < parts.length; i++) {
      const src = parts[i]!;
      const l = laid[i]!;
      const ph = createHash('sha256');
      const rh = await open(src.path, 'r');
      try {
        const buf = Buffer.alloc(1 << 20);
        let done = 0;
        while (done < src.sizeBytes) {
          const want = Math.min(buf.length, src.sizeBytes - done);
          let got = 0;
          while (got < want) {
            const { bytesRead } = await rh.read(buf, got, want - got, done + got);
            if (bytesRead === 0) throw new Error(`${src.path} is shorter than its partition (${done + got} of ${src.sizeBytes} bytes)`);
            got += bytesRead;
          }
          const bytesRead = got;
          const chunk = buf.subarray(0, bytesRead);
          ph.update(chunk);
          for (let o = 0; o < chunk.length; o += BLOCK) await w.block(chunk.subarray(o, o + BLOCK));
          done += bytesRead;
        }
      } finally {
        await rh.close();
      }
      partitions.push({
        index: l.index,
        type: l.type,
        bootable: l.bootable,
        startSector: l.startLba,
        sectors: l.sectors,
        offset: l.startLba * SECTOR_SIZE,
        size: l.sectors * SECTOR_SIZE,
        sha256: ph.digest('hex'),
      });
    }
    await w.finish();
    return { size, sha256: w.image.digest('hex'), partitions, ranges: w.ranges, mappedBlocks: w.mapped };
  } finally {
    await fh.close();
  }
}

class BlockWriter {
  readonly image = createHash('sha256');
  readonly ranges: BmapRange[] = [];
  mapped = 0;
  private index = 0;
  private range: { first: number; hash: Hash } | undefined;
  private pending: Buffer[] = [];
  private pendingAt = 0;

  constructor(private readonly fh: FileHandle) {}

  async block(b: Buffer): Promise<void> {
    if (b.length !== BLOCK) throw new Error(`internal: block of ${b.length} bytes`);
    this.image.update(b);
    if (b.equals(ZERO)) {
      await this.closeRange();
    } else {
      if (!this.range) {
        this.range = { first: this.index, hash: createHash('sha256') };
        this.pendingAt = this.index * BLOCK;
      }
      this.range.hash.update(b);
      this.pending.push(Buffer.from(b));
      this.mapped++;
      if (this.pending.length >= 256) await this.flush();
    }
    this.index++;
  }

  async zeros(bytes: number): Promise<void> {
    for (let i = 0; i < bytes / BLOCK; i++) await this.block(ZERO);
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    await this.fh.write(data, 0, data.length, this.pendingAt);
    this.pendingAt += data.length;
    this.pending = [];
  }

  private async closeRange(): Promise<void> {
    if (!this.range) return;
    await this.flush();
    this.ranges.push({ first: this.range.first, last: this.index - 1, sha256: this.range.hash.digest('hex') });
    this.range = undefined;
  }

  async finish(): Promise<void> {
    await this.closeRange();
  }
}
