import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kiln } from '../../helpers/cli.js';
import { baseSpec, buildFixture, type BuiltFixture } from '../../helpers/images/fs-image.js';
import { tempDir } from '../../helpers/tmp.js';

// Same image bytes, different manifests: the byte layers stay quiet, the manifest layer speaks.
describe('kiln diff: manifests', () => {
  let work: string;
  let a: BuiltFixture;
  let b: BuiltFixture;
  beforeAll(async () => {
    work = tempDir('diff-manifest');
    a = await buildFixture(join(work, 'a'), baseSpec(), { products: true });
    const spec = baseSpec();
    spec.packages = spec.packages.map((p) => (p.name === 'bash' ? { ...p, version: '5.2.37-2', sha256: '9'.repeat(64) } : p));
    b = await buildFixture(join(work, 'b'), spec, { products: true });
  });

  it('a package version change is reported in the packages layer, with identical images', async () => {
    const r = await kiln('diff', a.dir, b.dir);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')[1]).toBe('DIFFERENT in 1 layer(s): manifest:packages');
    expect(r.stdout).toContain('~ package bash:arm64\n       version: 5.2.37-1 → 5.2.37-2');
    expect(r.stdout).toMatch(/^Same: image, /m);
  });

  it('--bytes-only ignores the manifests', async () => {
    expect((await kiln('diff', '--bytes-only', a.dir, b.dir)).code).toBe(0);
  });
});
