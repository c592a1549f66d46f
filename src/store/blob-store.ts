import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm, stat, link, copyFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sha256File } from '../util/hash.js';
import { KilnError } from '../util/errors.js';

export class CacheError extends KilnError {}

/**
 * Content-addressed store: blobs/sha256/<hex>. A blob is only ever created by renaming a fully
 * written and hashed temp file into place, and every read (`open`) re-hashes it, so a damaged cache
 * entry is detected and dropped instead of being built into an image.
 */
export class BlobStore {
  constructor(readonly root: string) {}

  blobPath(sha: string): string {
    return join(this.root, 'blobs', 'sha256', sha);
  }

  async has(sha: string): Promise<boolean> {
    try {
      await stat(this.blobPath(sha));
      return true;
    } catch {
      return false;
    }
  }

  /** Returns the blob's path after checking its bytes still hash to `sha`. */
  async open(sha: string, what: string): Promise<string> {
    const p = this.blobPath(sha);
    if (!(await this.has(sha))) throw new CacheError(`${what}: not in the cache (sha256 ${sha})`);
    const actual = await sha256File(p);
    if (actual !== sha) {
      await rm(p, { force: true });
      throw new CacheError(`${what}: cache entry was corrupt (sha256 ${actual}, expected ${sha}); removed it, run again to refetch`);
    }
    return p;
  }

  /** Adds a file by copying it; refuses it unless it hashes to `expected` (when given). */
  async addFile(src: string, expected?: string): Promise<string> {
    const sha = await sha256File(src);
    if (expected && sha !== expected) {
      throw new CacheError(`${src}: sha256 ${sha} does not match the pin ${expected}`);
    }
    if (!(await this.has(sha))) {
      const tmp = await this.tempPath();
      await copyFile(src, tmp);
      await rename(tmp, this.blobPath(sha));
    }
    return sha;
  }

  async addBuffer(data: Buffer): Promise<string> {
    const sha = createHash('sha256').update(data).digest('hex');
    if (!(await this.has(sha))) {
      const tmp = await this.tempPath();
      await writeFile(tmp, data);
      await rename(tmp, this.blobPath(sha));
    }
    return sha;
  }

  /**
   * Streams `source` into the store, hashing as it goes; the blob appears only if the hash is
   * `expected`. Used by downloads so a truncated or tampered transfer never lands.
   */
  async addStream(source: AsyncIterable<Uint8Array>, expected: string, what: string): Promise<void> {
    const tmp = await this.tempPath();
    const h = createHash('sha256');
    const fh = await open(tmp, 'w');
    try {
      for await (const chunk of source) {
        h.update(chunk);
        await fh.write(chunk);
      }
    } finally {
      await fh.close();
    }
    const actual = h.digest('hex');
    if (actual !== expected) {
      await rm(tmp, { force: true });
      throw new CacheError(`${what}: downloaded bytes hash to ${actual}, expected ${expected}`);
    }
    await rename(tmp, this.blobPath(expected));
  }

  /** Hard-links (or copies across filesystems) a blob to `dest`. */
  async linkTo(sha: string, dest: string): Promise<void> {
    await mkdir(dirname(dest), { recursive: true });
    await rm(dest, { force: true });
    try {
      await link(this.blobPath(sha), dest);
    } catch {
      await copyFile(this.blobPath(sha), dest);
    }
  }

  private async tempPath(): Promise<string> {
    const dir = join(this.root, 'blobs', 'sha256');
    await mkdir(dir, { recursive: true });
    await mkdir(join(this.root, 'tmp'), { recursive: true });
    return join(this.root, 'tmp', `blob-${process.pid}-${Math.random().toString(36).slice(2)}`);
  }
}
