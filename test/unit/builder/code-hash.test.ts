import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCodeHash, IMAGE_CODE_DIRS } from '../../../src/builder/code-hash.js';
import { tempDir } from '../../helpers/tmp.js';

function compiledTree(): string {
  const root = tempDir('code-hash');
  for (const d of IMAGE_CODE_DIRS) {
    mkdirSync(join(root, d));
    writeFileSync(join(root, d, 'a.js'), `export const dir = '${d}';\n`);
  }
  return root;
}

describe('buildCodeHash (part of the no-op rebuild key)', () => {
  it('changes when any compiled file in an image-code folder changes', async () => {
    const root = compiledTree();
    const before = await buildCodeHash(root);
    writeFileSync(join(root, 'disk', 'a.js'), 'export const dir = 1;\n');
    expect(await buildCodeHash(root)).not.toBe(before);
  });

  it('fails on a missing folder instead of hashing less code (a rename must update the list)', async () => {
    const root = compiledTree();
    rmSync(join(root, 'builder'), { recursive: true });
    await expect(buildCodeHash(root)).rejects.toThrow(/builder is missing .*IMAGE_CODE_DIRS/);
  });

  it('names every folder that exists in src/', async () => {
    const { readdirSync } = await import('node:fs');
    const src = new Set(
      readdirSync('src', { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name),
    );
    for (const d of IMAGE_CODE_DIRS) expect(src.has(d), `src/${d}`).toBe(true);
  });
});
