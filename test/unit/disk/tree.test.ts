import { describe, expect, it } from 'vitest';
import { makeLayer } from '../../../src/diff/compare.js';
import { compareFields, compareTrees, comparePaths, type TreeEntry } from '../../../src/disk/tree.js';

const file = (path: string, extra: Partial<TreeEntry> = {}): TreeEntry => ({
  path,
  type: 'file',
  mode: '0644',
  uid: 0,
  gid: 0,
  size: 3,
  mtime: 1700000000,
  sha256: 'aa',
  ...extra,
});
const tree = (...es: TreeEntry[]) => new Map(es.map((e) => [e.path, e]));

describe('compareTrees', () => {
  it('finds added, removed and changed entries in path order', () => {
    const a = tree(file('/etc/b'), file('/etc/a'), file('/gone'));
    const b = tree(file('/etc/a', { mode: '0600', mtime: 1 }), file('/etc/b'), file('/new', { sha256: 'bb' }));
    const d = compareTrees(a, b);
    expect(d.map((x) => [x.change, x.name])).toEqual([
      ['changed', '/etc/a'],
      ['removed', '/gone'],
      ['added', '/new'],
    ]);
    expect(d[0]?.fields).toEqual([
      { field: 'mode', a: '0644', b: '0600' },
      { field: 'mtime', a: 1700000000, b: 1 },
    ]);
  });

  it('reports symlink targets and type changes', () => {
    const a = tree({ path: '/l', type: 'symlink', size: 1, target: 'x' }, file('/t'));
    const b = tree({ path: '/l', type: 'symlink', size: 1, target: 'y' }, { path: '/t', type: 'dir', size: 0 });
    const d = compareTrees(a, b);
    expect(d[0]?.fields).toEqual([{ field: 'target', a: 'x', b: 'y' }]);
    expect(d[1]?.kind).toBe('file→dir');
  });

  it('sorts a directory before its children', () => {
    expect(['/a-b', '/a/c', '/a'].sort(comparePaths)).toEqual(['/a', '/a/c', '/a-b']);
  });

  it('is empty for equal trees and gives a same layer', () => {
    expect(compareTrees(tree(file('/x')), tree(file('/x')))).toEqual([]);
    expect(makeLayer('l', 'L', compareFields({ u: 1 }, { u: 1 }), []).status).toBe('same');
    expect(makeLayer('l', 'L', compareFields({ u: 1 }, { u: 2 }), []).status).toBe('different');
  });
});
