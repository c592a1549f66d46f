import { describe, expect, it } from 'vitest';
import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashTree, listTree, scanTree } from '../../../src/builder/stages/tree.js';
import { sha256 } from '../../../src/util/hash.js';
import { tempDir } from '../../helpers/tmp.js';

describe('tree scan', () => {
  it('lists in path order, names hard links by their first path, and hashes every file once with its bytes seen', async () => {
    const root = tempDir('tree');
    await mkdir(join(root, 'b/c'), { recursive: true });
    await writeFile(join(root, 'b/c/z'), 'zed');
    await writeFile(join(root, 'a'), 'aye');
    await link(join(root, 'a'), join(root, 'b/a-link'));
    await symlink('a', join(root, 'b/sym'));
    const entries = await scanTree(root, 2_000_000_000);
    expect(entries.map((e) => [e.path, e.type, e.target ?? e.sha256])).toEqual([
      ['/a', 'file', sha256('aye')],
      ['/b', 'dir', undefined],
      ['/b/a-link', 'hardlink', '/a'],
      ['/b/c', 'dir', undefined],
      ['/b/c/z', 'file', sha256('zed')],
      ['/b/sym', 'symlink', 'a'],
    ]);
    const listed = await listTree(root, 2_000_000_000);
    const seen = new Map<string, string>();
    await hashTree(root, listed, (path) => {
      const parts: Buffer[] = [];
      return { push: (c) => parts.push(c), end: () => void seen.set(path, Buffer.concat(parts).toString()) };
    });
    expect(listed).toEqual(entries);
    expect(Object.fromEntries(seen)).toEqual({ '/a': 'aye', '/b/c/z': 'zed' });
  });
});
