import { createHash } from 'node:crypto';
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

/**
 * sha256 of a whole file by the coreutils tool: two of these run on two cores at once, which is
 * what keeps "are these two 2 GB images identical?" down to a couple of seconds.
 */
export async function sha256OfFile(path: string): Promise<string> {
  const r = await run('sha256sum', ['--binary', path], { env: { LC_ALL: 'C' } });
  const hex = /^\\?([0-9a-f]{64})/.exec(r.stdout)?.[1];
  if (!hex) throw new Error(`sha256sum printed no hash for ${path}`);
  return hex;
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

/** Hashes two ranges in lockstep and notes where they first differ. */
export async function compareRanges(a: Range, b: Range): Promise<RangeComparison> {
  const [fa, fb] = await Promise.all([open(a.path, 'r'), open(b.path, 'r')]);
  try {
    const ha = createHash('sha256');
    const hb = createHash('sha256');
    const ba = Buffer.alloc(CHUNK);
    const bb = Buffer.alloc(CHUNK);
    let firstDifference: number | undefined;
    const total = Math.max(a.length, b.length);
    for (let pos = 0; pos < total; pos += CHUNK) {
      const [na, nb] = await Promise.all([
        readChunk(fa, ba, a.offset + pos, Math.max(0, Math.min(CHUNK, a.length - pos))),
        readChunk(fb, bb, b.offset + pos, Math.max(0, Math.min(CHUNK, b.length - pos))),
      ]);
      const ca = ba.subarray(0, na);
      const cb = bb.subarray(0, nb);
      ha.update(ca);
      hb.update(cb);
      if (firstDifference === undefined && !ca.equals(cb)) firstDifference = pos + firstMismatch(ca, cb);
    }
    return { sha256A: ha.digest('hex'), sha256B: hb.digest('hex'), ...(firstDifference === undefined ? {} : { firstDifference }) };
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

/** Offset of the first differing byte of two ranges, reading only as far as needed. */
export async function findFirstDifference(a: Range, b: Range): Promise<number | undefined> {
  const [fa, fb] = await Promise.all([open(a.path, 'r'), open(b.path, 'r')]);
  try {
    const ba = Buffer.alloc(CHUNK);
    const bb = Buffer.alloc(CHUNK);
    const total = Math.max(a.length, b.length);
    for (let pos = 0; pos < total; pos += CHUNK) {
      const [na, nb] = await Promise.all([
        readChunk(fa, ba, a.offset + pos, Math.max(0, Math.min(CHUNK, a.length - pos))),
        readChunk(fb, bb, b.offset + pos, Math.max(0, Math.min(CHUNK, b.length - pos))),
      ]);
      const ca = ba.subarray(0, na);
      const cb = bb.subarray(0, nb);
      if (!ca.equals(cb)) return pos + firstMismatch(ca, cb);
      if (na === 0 && nb === 0) break;
    }
    return undefined;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}
