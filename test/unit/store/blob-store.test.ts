import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobStore } from '../../../src/store/blob-store.js';
import { tempDir } from '../../helpers/tmp.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('blob store', () => {
  it('adds a file only when it matches its pin, and detects a corrupted entry on read', async () => {
    const d = tempDir('blob-store');
    const store = new BlobStore(join(d, 'cache'));
    await writeFile(join(d, 'a'), 'hello');
    await expect(store.addFile(join(d, 'a'), sha('other'))).rejects.toThrow(/does not match the pin/);
    expect(await store.addFile(join(d, 'a'), sha('hello'))).toBe(sha('hello'));
    expect(await readFile(await store.open(sha('hello'), 'a'), 'utf8')).toBe('hello');
    await writeFile(store.blobPath(sha('hello')), 'tampered');
    await expect(store.open(sha('hello'), 'a')).rejects.toThrow(/corrupt/);
    expect(await store.has(sha('hello'))).toBe(false);
  });
});
