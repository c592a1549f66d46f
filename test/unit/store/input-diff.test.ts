import { describe, expect, it } from 'vitest';
import { closestEntry, describeChanges, diffInputs, explainMiss } from '../../../src/store/input-diff.js';

const base = {
  recipe: 6,
  debs: ['a', 'b', 'c', 'd'],
  include: ['openssh-server', 'systemd'],
  mmdebstrap: 'mmdebstrap 1.5.7',
  hooks: { essential: 'e1', customize: 'c1' },
};

describe('diffInputs', () => {
  it('names each changed input with a detail that fits its shape', () => {
    const next = { ...base, recipe: 7, debs: ['a', 'b', 'x', 'y'], hooks: { essential: 'e1', customize: 'c2' } };
    expect(diffInputs(base, next, { debs: 'packages' })).toEqual([
      { name: 'debs', kind: 'changed', detail: '2 packages differ' },
      { name: 'hooks', kind: 'changed', detail: 'customize' },
      { name: 'recipe', kind: 'changed', detail: '6 → 7' },
    ]);
  });

  it('counts list additions and removals separately when they differ', () => {
    expect(diffInputs(base, { ...base, debs: ['a', 'b', 'c', 'd', 'e', 'f'] }, { debs: 'packages' })[0]?.detail).toBe('2 packages added');
    expect(diffInputs(base, { ...base, debs: ['a'] }, { debs: 'packages' })[0]?.detail).toBe('3 packages removed');
    expect(diffInputs(base, { ...base, debs: ['a', 'b', 'c', 'x', 'y'] })[0]?.detail).toBe('2 entries added, 1 removed');
  });

  it('reports new and dropped inputs (a new key field such as a build mode)', () => {
    const { mmdebstrap: _m, ...rest } = base;
    expect(diffInputs(base, { ...rest, mode: 'native' })).toEqual([
      { name: 'mmdebstrap', kind: 'removed' },
      { name: 'mode', kind: 'added' },
    ]);
  });

  it('ignores key order in objects, and leaves long text out of the detail', () => {
    expect(diffInputs(base, { ...base, hooks: { customize: 'c1', essential: 'e1' } })).toEqual([]);
    const long = diffInputs({ s: 'x'.repeat(100) }, { s: 'y'.repeat(100) });
    expect(long).toEqual([{ name: 's', kind: 'changed', detail: undefined }]);
  });
});

describe('miss explanations', () => {
  it('reads as one line naming every changed input', () => {
    const next = { ...base, debs: ['a', 'b', 'c', 'z'], hooks: { essential: 'e2', customize: 'c2' } };
    expect(explainMiss([{ inputs: base, createdAt: 1 }], next, { debs: 'packages' })).toBe(
      'cache miss: input `debs` changed (1 packages differ), `hooks` changed (customize, essential)',
    );
    expect(describeChanges([{ name: 'mode', kind: 'added' }])).toBe('input `mode` is new');
  });

  it('compares against the most similar earlier entry, the newest among equals', () => {
    const otherSpec = { inputs: { ...base, debs: ['p', 'q'], include: ['x'] }, createdAt: 9 };
    const older = { inputs: { ...base, recipe: 5 }, createdAt: 1 };
    const newer = { inputs: { ...base, recipe: 4 }, createdAt: 2 };
    const best = closestEntry([otherSpec, older, newer], base);
    expect(best?.entry).toBe(newer);
    expect(best?.changes.map((c) => c.name)).toEqual(['recipe']);
  });

  it('says so when the stage has never been cached', () => {
    expect(explainMiss([], base)).toBe('cache miss: no earlier entry for this stage');
  });
});
