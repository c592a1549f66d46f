import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { serializeMbr, SECTOR_SIZE, formatDiskId, parseDiskId } from '../../disk/mbr.js';
import { sharedBuffer, SharedBufferPool, ThreadSha256 } from '../../util/thread-hash.js';
import type { BmapRange } from '../../disk/bmap.js';
import { KilnError } from '../../util/errors.js';

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

export interface DiskResult {
  size: number;
  sha256: string;
  partitions: LaidPartition[];
  ranges: BmapRange[];
  mappedBlocks: number;
}

const ZERO = Buffer.alloc(BLOCK);

/** Takes the image bytes as they are assembled (zstd); calls `release` when it no longer needs a chunk. */
export interface DiskSink {
  write(chunk: Buffer, release?: () => void): Promise<void>;
}

/**
 * Assembles the MBR disk image in one pass: partitions are copied at their offsets, all-zero blocks
 * are left as holes (so the image file is sparse and cheap to copy), and the same pass computes the
 * image sha256, each partition's sha256 and the block map of non-zero blocks with per-range sha256
 * (each byte is read once; the three hashes run side by side on their own threads).
 */
export async function assembleDisk(out: string, diskId: string, parts: readonly PartitionSource[], sink?: DiskSink): Promise<DiskResult> {
  let lba = FIRST_LBA;
  const laid = parts.map((p, i) => {
    if (p.sizeBytes % (1 << 20) !== 0) throw new KilnError(`partition ${i + 1} size ${p.sizeBytes} is not whole MiB`);
    const start = lba;
    lba += p.sizeBytes / SECTOR_SIZE;
    return { src: p, entry: { index: i + 1, type: p.type, bootable: p.bootable, startLba: start, sectors: p.sizeBytes / SECTOR_SIZE } };
  });
  const size = lba * SECTOR_SIZE;
  const mbr = serializeMbr({ diskId: parseDiskId(diskId), partitions: laid.map((l) => l.entry) });
  if (formatDiskId(parseDiskId(diskId)) !== diskId) throw new KilnError(`disk id ${diskId} is not 8 lowercase hex digits`);

  const fh = await open(out, 'w');
  const image = new ThreadSha256();
  let part: ThreadSha256 | undefined;
  const pool = new SharedBufferPool(CHUNKS, CHUNK);
  try {
    await fh.truncate(size);
    const w = new BlockWriter(fh, image, sink);
    const first = sharedBuffer(BLOCK);
    mbr.copy(first, 0);
    await w.chunk(first, false, () => undefined);
    await w.zeros(FIRST_LBA * SECTOR_SIZE - BLOCK);
    const partitions: LaidPartition[] = [];
    for (const { src, entry: l } of laid) {
      part = new ThreadSha256();
      const rh = await open(src.path, 'r');
      try {
        let done = 0;
        while (done < src.sizeBytes) {
          const buf = await pool.take();
          const want = Math.min(buf.length, src.sizeBytes - done);
          let got = 0;
          while (got < want) {
            const { bytesRead } = await rh.read(buf, got, want - got, done + got);
            if (bytesRead === 0) throw new KilnError(`${src.path} is shorter than its partition (${done + got} of ${src.sizeBytes} bytes)`);
            got += bytesRead;
          }
          const chunk = buf.subarray(0, got);
          const zero = chunk.equals(zeros(got));
          // users: this loop, and for data also the two hash threads and the sink
          const release = pool.lease(buf, zero ? 1 : sink ? 4 : 3);
          if (zero) part.zeros(got);
          else part.update(chunk, release);
          await w.chunk(chunk, zero, release);
          release();
          await part.ready();
          done += got;
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
        sha256: await part.digest(),
      });
      part = undefined;
    }
    await w.finish();
    return { size, sha256: await image.digest(), partitions, ranges: w.ranges, mappedBlocks: w.mapped };
  } finally {
    await fh.close();
    await image.abort();
    await part?.abort();
  }
}

/**
 * Takes the image front to back in chunks (multiples of BLOCK). Whole-zero chunks take one memcmp;
 * otherwise runs of non-zero blocks are written and hashed as one piece each. The image hash runs
 * on its own thread (so do the partitions', in assembleDisk); the ranges are hashed here.
 */
class BlockWriter {
  readonly ranges: BmapRange[] = [];
  mapped = 0;
  private index = 0;
  private range: { first: number; next: number; hash: Hash } | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly image: ThreadSha256,
    private readonly sink?: DiskSink,
  ) {}

  /**
   * `buf` is in shared memory (for the hash thread) and stays unchanged until the image hash and the
   * sink have each called `release` (zero chunks go to neither). `zero`: whether it is all zeros.
   */
  async chunk(buf: Buffer, zero: boolean, release: () => void): Promise<void> {
    if (buf.length % BLOCK !== 0) throw new Error(`internal: chunk of ${buf.length} bytes`);
    const blocks = buf.length / BLOCK;
    if (zero) {
      this.image.zeros(buf.length);
      // most of the image: hand the sink the shared zero buffer, which nobody writes to
      if (this.sink) await this.sink.write(zeros(buf.length));
      await this.image.ready();
      this.closeRange();
      this.index += blocks;
      return;
    }
    this.image.update(buf, release);
    if (this.sink) await this.sink.write(buf, release);
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
    await this.image.ready();
  }

  async zeros(bytes: number): Promise<void> {
    for (let left = bytes; left > 0; left -= ZERO_CHUNK.length) await this.chunk(zeros(Math.min(left, ZERO_CHUNK.length)), true, () => undefined);
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

/** Read size, and how many chunks may be in flight between the reader, the hash threads and zstd. */
const CHUNK = 1 << 20;
const CHUNKS = 48;
const ZERO_CHUNK = Buffer.alloc(CHUNK);
function zeros(n: number): Buffer {
  return n <= ZERO_CHUNK.length ? ZERO_CHUNK.subarray(0, n) : Buffer.alloc(n);
}
