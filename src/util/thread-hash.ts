import { Worker } from 'node:worker_threads';

// sha256 on a worker thread. The disk stage hashes every byte of a 2.3 GB image three ways (image,
// partition, bmap ranges); on one thread that was most of the stage. Chunks are passed by sharing
// memory (SharedArrayBuffer), never copied; runs of zeros are sent as a length.

// evaluated as CommonJS, so it works from src/ under the tests and from dist-js/ alike
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const h = createHash('sha256');
const zero = Buffer.alloc(1 << 20);
parentPort.on('message', (m) => {
  if (m.data) h.update(m.data);
  else if (m.zeros) for (let left = m.zeros; left > 0; left -= zero.length) h.update(zero.subarray(0, Math.min(left, zero.length)));
  if (m.end) parentPort.postMessage({ digest: h.digest('hex') });
  else parentPort.postMessage({ done: m.bytes });
});
`;

/** At most this many bytes handed over and not yet hashed, so a slow worker holds the reader back. */
const IN_FLIGHT = 32 << 20;

export class ThreadSha256 {
  private readonly worker = new Worker(WORKER, { eval: true });
  private pending = 0;
  private waiters: (() => void)[] = [];
  /** One entry per message, in order: what to call when the worker is done with it. */
  private readonly acks: ((() => void) | undefined)[] = [];
  private result: Promise<string>;
  private failed: Error | undefined;

  constructor() {
    this.result = new Promise<string>((resolve, reject) => {
      this.worker.on('message', (m: { done?: number; digest?: string }) => {
        if (m.digest !== undefined) return resolve(m.digest);
        this.pending -= m.done ?? 0;
        this.acks.shift()?.();
        if (this.pending < IN_FLIGHT) for (const w of this.waiters.splice(0)) w();
      });
      this.worker.on('error', (err) => {
        this.failed = err;
        reject(err);
        for (const w of this.waiters.splice(0)) w();
      });
    });
    this.result.catch(() => undefined);
  }

  /** `data` must be backed by a SharedArrayBuffer and left unchanged until `hashed` is called. */
  update(data: Uint8Array, hashed?: () => void): void {
    if (!(data.buffer instanceof SharedArrayBuffer)) throw new Error('internal: ThreadSha256 takes shared memory only');
    this.pending += data.length;
    this.acks.push(hashed);
    this.worker.postMessage({ data, bytes: data.length });
  }

  zeros(n: number): void {
    this.pending += n;
    this.acks.push(undefined);
    this.worker.postMessage({ zeros: n, bytes: n });
  }

  /** Resolves once the worker has caught up enough to take more. */
  async ready(): Promise<void> {
    if (this.failed) throw this.failed;
    if (this.pending < IN_FLIGHT) return;
    await new Promise<void>((r) => this.waiters.push(r));
    if (this.failed) throw this.failed;
  }

  async digest(): Promise<string> {
    this.worker.postMessage({ end: true });
    try {
      return await this.result;
    } finally {
      await this.worker.terminate();
    }
  }

  /** Ends the worker without a result (the stage failed). */
  async abort(): Promise<void> {
    await this.worker.terminate();
  }
}

/** A buffer in shared memory, so ThreadSha256 can read it without a copy. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

/**
 * A fixed set of shared buffers handed out and taken back when every consumer (hash threads, the
 * zstd pipe) is done with one. Allocating a fresh shared buffer per MiB instead cost more system
 * time (page faults, unmaps across threads) than the hashing it was meant to spread out.
 */
export class SharedBufferPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: ((b: Buffer) => void)[] = [];

  constructor(
    count: number,
    readonly size: number,
  ) {
    for (let i = 0; i < count; i++) this.free.push(sharedBuffer(size));
  }

  async take(): Promise<Buffer> {
    return this.free.pop() ?? new Promise<Buffer>((r) => this.waiting.push(r));
  }

  /** Returns a release function to be called once by each of `users` consumers. */
  lease(buf: Buffer, users: number): () => void {
    let left = users;
    return () => {
      if (--left === 0) this.give(buf);
    };
  }

  private give(buf: Buffer): void {
    const w = this.waiting.shift();
    if (w) w(buf);
    else this.free.push(buf);
  }
}
