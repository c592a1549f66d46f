import { createHash, type Hash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { run } from '../util/exec.js';

// Byte-level access to images: bounded reads, whole-file hashes and a streaming side-by-side
// comparison. Nothing here holds more than one chunk of an image in memory.

const CHUNK = 4 << 20;

export async function fileSize(path: string): Promise<number> {
  const st = await stat(path);
  if (st.isBlockDevice()) {
    const r = await run('blockdev', ['--getsize64', path]);
    return Number(r.stdout.trim());
  }
  return st.size;
}

/** Reads up to `length` bytes at `offset`; shorter at the end of the file. */
export async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

export interface Range {
  path: string;
  offset: number;
  length: number;
}

export interface RangeComparison {
  sha256A: string;
  sha256B: string;
  /** Offset (relative to each range's start) of the first differing byte, if any. */
  firstDifference?: number;
}

/**
 * Hashes two ranges in lockstep and notes where they first differ. While the bytes agree only A is
 * hashed (B's hash state is cloned from A's at the first difference): equal images cost one hash
 * plus a memcmp, which is what keeps two identical 2 GB images to a couple of seconds.
 */
export async function compareRanges(a: Range, b: Range): Promise<RangeComparison> {
  const [fa, fb] = await Promise.all([open(a.path, 'r'), open(b.path, 'r')]);
  try {
    const ha = createHash('sha256');
    let hb: Hash | undefined;
    let firstDifference: number | undefined;
    const total = Math.max(a.length, b.length);
    // Two buffer pairs: the next chunk is read while the current one is compared and hashed.
    const bufs = [
      [Buffer.alloc(CHUNK), Buffer.alloc(CHUNK)],
      [Buffer.alloc(CHUNK), Buffer.alloc(CHUNK)],
    ] as const;
    const readPair = (pos: number, slot: 0 | 1): Promise<[Buffer, Buffer]> => {
      const [ba, bb] = bufs[slot];
      return Promise.all([
        readChunk(fa, ba, a.offset + pos, Math.max(0, Math.min(CHUNK, a.length - pos))),
        readChunk(fb, bb, b.offset + pos, Math.max(0, Math.min(CHUNK, b.length - pos))),
      ]).then(([na, nb]) => [ba.subarray(0, na), bb.subarray(0, nb)]);
    };
    let slot: 0 | 1 = 0;
    let pending = total > 0 ? readPair(0, slot) : undefined;
    for (let pos = 0; pending; pos += CHUNK) {
      const [ca, cb] = await pending;
      slot = slot === 0 ? 1 : 0;
      pending = pos + CHUNK < total ? readPair(pos + CHUNK, slot) : undefined;
      if (!hb && !ca.equals(cb)) {
        firstDifference = pos + firstMismatch(ca, cb);
        hb = ha.copy();
      }
      ha.update(ca);
      hb?.update(cb);
    }
    const sha256A = ha.digest('hex');
    const sha256B = hb ? hb.digest('hex') : sha256A;
    return { sha256A, sha256B, ...(firstDifference === undefined ? {} : { firstDifference }) };
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

async function readChunk(fh: Awaited<ReturnType<typeof open>>, buf: Buffer, position: number, length: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

export function firstMismatch(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  // Narrow down by halves with native compares before the byte loop: chunks are megabytes.
  let lo = 0;
  let hi = n;
  while (hi - lo > 64) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(a.subarray(lo, mid), b.subarray(lo, mid)) !== 0) hi = mid;
    else lo = mid;
  }
  for (let i = lo; i < hi; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** sha256 of one range of a file, streamed. */
export async function sha256Range(path: string, offset: number, length: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(CHUNK);
    for (let pos = 0; pos < length; pos += CHUNK) {
      const n = await readChunk(fh, buf, offset + pos, Math.min(CHUNK, length - pos));
      h.update(buf.subarray(0, n));
      if (n === 0) break;
    }
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}
