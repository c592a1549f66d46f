import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kiln } from '../../helpers/cli.js';
import { baseSpec, buildFixture, fixtureLayout, type BuiltFixture } from '../../helpers/images/fs-image.js';
import { tempDir } from '../../helpers/tmp.js';

// Two independent builds of the same inputs (separate source trees, separate runs).
describe('kiln diff on identical builds', () => {
  let work: string;
  let a: BuiltFixture;
  let b: BuiltFixture;
  beforeAll(async () => {
    work = tempDir('diff-same');
    a = await buildFixture(join(work, 'one'), baseSpec(), { products: true });
    b = await buildFixture(join(work, 'two'), baseSpec(), { products: true });
  });

  it('exits 0 and says IDENTICAL for two build directories', async () => {
    const r = await kiln('diff', a.dir, b.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^IDENTICAL: [0-9a-f]{64} \\(${fixtureLayout(baseSpec()).size} bytes\\)$`, 'm'));
    expect(r.stdout).toContain('Same: image, manifest:inputs, manifest:packages');
  });

  it('exits 0 for bare images, and for a build against a bare image (manifest noted, not compared)', async () => {
    expect((await kiln('diff', a.img, b.img)).code).toBe(0);
    const mixed = await kiln('diff', '--json', a.dir, b.img);
    expect(mixed.code).toBe(0);
    const report = JSON.parse(mixed.stdout) as { identical: boolean; layers: { id: string; status: string }[] };
    expect(report.identical).toBe(true);
    expect(report.layers.map((l) => [l.id, l.status])).toEqual([
      ['image', 'same'],
      ['manifest', 'not-compared'],
    ]);
  });

  it('does not descend into identical images (no partition layers)', async () => {
    const r = await kiln('diff', '--json', a.img, b.img);
    const report = JSON.parse(r.stdout) as { layers: { id: string }[] };
    expect(report.layers.map((l) => l.id)).toEqual(['image']);
  });
});
