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
export async function assembleDisk(
  out: string,
  diskId: string,
  parts: readonly PartitionSource[],
  sink?: { write(chunk: Buffer): Promise<void> },
): Promise<DiskResult> {
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
    const w = new BlockWriter(fh, sink);
    const first = Buffer.alloc(BLOCK);
    mbr.copy(first, 0);
    await w.chunk(first);
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
          await w.chunk(chunk);
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

/**
 * Takes the image front to back in chunks (multiples of BLOCK). Whole-zero chunks take one memcmp;
 * otherwise runs of non-zero blocks are written and hashed as one piece each.
 */
class BlockWriter {
  readonly image = createHash('sha256');
  readonly ranges: BmapRange[] = [];
  mapped = 0;
  private index = 0;
  private range: { first: number; next: number; hash: Hash } | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly sink?: { write(chunk: Buffer): Promise<void> },
  ) {}

  async chunk(buf: Buffer): Promise<void> {
    if (buf.length % BLOCK !== 0) throw new Error(`internal: chunk of ${buf.length} bytes`);
    this.image.update(buf);
    // the sink may hold on to the chunk after this returns; callers reuse their buffers
    if (this.sink) await this.sink.write(Buffer.from(buf));
    const blocks = buf.length / BLOCK;
    if (buf.equals(zeros(buf.length))) {
      this.closeRange();
      this.index += blocks;
      return;
    }
    let runStart = -1;
    for (let b = 0; b <= blocks; b++) {
      const isData = b < blocks && buf.compare(ZERO, 0, BLOCK, b * BLOCK, (b + 1) * BLOCK) !== 0;
      if (isData && runStart < 0) runStart = b;
      if (!isData && runStart >= 0) {
        await this.data(buf.subarray(runStart * BLOCK, b * BLOCK), this.index + runStart);
        runStart = -1;
      }
      if (!isData && b < blocks && this.range) this.closeRange();
    }
    this.index += blocks;
  }

  async zeros(bytes: number): Promise<void> {
    for (let left = bytes; left > 0; left -= ZERO_CHUNK.length) await this.chunk(ZERO_CHUNK.subarray(0, Math.min(left, ZERO_CHUNK.length)));
  }

  private async data(run: Buffer, firstBlock: number): Promise<void> {
    if (this.range && this.range.next !== firstBlock) this.closeRange();
    if (!this.range) this.range = { first: firstBlock, next: firstBlock, hash: createHash('sha256') };
    this.range.hash.update(run);
    this.range.next = firstBlock + run.length / BLOCK;
    this.mapped += run.length / BLOCK;
    await this.fh.write(run, 0, run.length, firstBlock * BLOCK);
  }

  private closeRange(): void {
    if (!this.range) return;
    this.ranges.push({ first: this.range.first, last: this.range.next - 1, sha256: this.range.hash.digest('hex') });
    this.range = undefined;
  }

  async finish(): Promise<void> {
    this.closeRange();
  }
}

const ZERO_CHUNK = Buffer.alloc(1 << 20);
function zeros(n: number): Buffer {
  return n === ZERO_CHUNK.length ? ZERO_CHUNK : Buffer.alloc(n);
}
