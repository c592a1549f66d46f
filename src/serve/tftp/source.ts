import type { FileHandle } from 'node:fs/promises';
import { writeDataHeader } from './codec.js';
import { blockCount, wire } from './transfer.js';
import { KilnError } from '../../util/errors.js';

// Ready-to-send DATA packets for one transfer. Each block has a slot of 4 + blockSize bytes in one
// buffer: the file is read straight into the slots' payloads (one readv per chunk), and a packet is
// a view of its slot, so sending copies and allocates nothing per block. Memory per transfer is one
// chunk (about 128 KiB, or two windows when that is more), not the file.

export interface BlockSource {
  /** Block `block` (1-based, unwrapped) is loaded and `packet()` may be called for it. */
  has(block: number): boolean;
  /** The DATA packet for a loaded block, header written with its wire number. */
  packet(block: number): Buffer;
  /** Loads the chunk starting at `block`; rejects when the file is shorter than promised. */
  load(block: number): Promise<void>;
  /** Bytes of payload in `block`. */
  length(block: number): number;
  close(): Promise<void>;
}

/** Lays out `count` slots and answers slot geometry for a file of `size` bytes. */
class Slots {
  readonly buf: Buffer;
  readonly stride: number;
  /** Full-size packet view per slot and its payload part, made once. */
  private readonly views: Buffer[] = [];
  private readonly bodies: Buffer[] = [];
  base = 1;
  loaded = 0;

  constructor(
    readonly count: number,
    readonly blockSize: number,
    readonly size: number,
  ) {
    this.stride = blockSize + 4;
    this.buf = Buffer.allocUnsafe(count * this.stride);
    for (let i = 0; i < count; i++) {
      this.views.push(this.buf.subarray(i * this.stride, (i + 1) * this.stride));
      this.bodies.push(this.buf.subarray(i * this.stride + 4, (i + 1) * this.stride));
    }
  }

  length(block: number): number {
    return Math.max(0, Math.min(this.blockSize, this.size - (block - 1) * this.blockSize));
  }

  has(block: number): boolean {
    return block >= this.base && block < this.base + this.loaded;
  }

  packet(block: number): Buffer {
    const i = block - this.base;
    const view = this.views[i];
    if (view === undefined) throw new RangeError(`internal: block ${block} is not in the loaded chunk (from ${this.base})`);
    writeDataHeader(view, 0, wire(block));
    const len = this.length(block);
    // Only the last block is short; its view is made when it is sent.
    return len === this.blockSize ? view : view.subarray(0, 4 + len);
  }

  payloads(n: number): Buffer[] {
    return n === this.count ? this.bodies : this.bodies.slice(0, n);
  }
}

/** Most buffers one readv may scatter into (Linux IOV_MAX); libuv reads no more per call. */
const IOV_MAX = 1024;

export function chunkBlocks(blockSize: number, windowSize: number): number {
  return Math.min(IOV_MAX, Math.max(2 * windowSize, Math.ceil((128 * 1024) / blockSize)));
}

/** What both sources answer from their slots. */
abstract class SlotSource implements BlockSource {
  protected abstract readonly slots: Slots;

  has(block: number): boolean {
    return this.slots.has(block);
  }

  packet(block: number): Buffer {
    return this.slots.packet(block);
  }

  length(block: number): number {
    return this.slots.length(block);
  }

  abstract load(block: number): Promise<void>;
  abstract close(): Promise<void>;
}

export class FileSource extends SlotSource {
  protected readonly slots: Slots;
  private readonly blocks: number;
  private loading: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    size: number,
    blockSize: number,
    windowSize: number,
  ) {
    super();
    this.blocks = blockCount(size, blockSize);
    this.slots = new Slots(Math.min(chunkBlocks(blockSize, windowSize), this.blocks), blockSize, size);
  }

  load(block: number): Promise<void> {
    this.loading = this.read(block);
    return this.loading;
  }

  private async read(block: number): Promise<void> {
    const s = this.slots;
    s.loaded = 0;
    s.base = block;
    const n = Math.min(s.count, this.blocks - block + 1);
    const position = (block - 1) * s.blockSize;
    const want = Math.max(0, Math.min(n * s.blockSize, s.size - position));
    if (want > 0) {
      const { bytesRead } = await this.fh.readv(s.payloads(n), position);
      if (bytesRead < want) throw new KilnError(`file shrank while being sent (${bytesRead} of ${want} bytes at ${position})`);
    }
    s.loaded = n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A read still in flight must finish before its handle goes.
    await this.loading?.catch(() => undefined);
    await this.fh.close();
  }
}

/** A rendered file (config.txt, cmdline.txt, boot.scr, pxelinux.cfg): small, laid out once. */
export class MemorySource extends SlotSource {
  protected readonly slots: Slots;

  constructor(data: Buffer, blockSize: number) {
    super();
    const blocks = blockCount(data.length, blockSize);
    this.slots = new Slots(blocks, blockSize, data.length);
    for (let b = 1; b <= blocks; b++) {
      const from = (b - 1) * blockSize;
      data.copy(this.slots.buf, (b - 1) * this.slots.stride + 4, from, Math.min(from + blockSize, data.length));
    }
    this.slots.loaded = blocks;
  }

  load(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
