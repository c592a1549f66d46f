import { beforeAll, describe, expect, it } from 'vitest';
import { copyFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { run } from '../../../src/util/exec.js';
import { sha256File } from '../../../src/util/hash.js';
import { testImage, testImageSpec, type TestImage } from '../../helpers/images/test-image.js';
import { tempDir } from '../../helpers/tmp.js';

// The native rootfs mode runs amd64 programs inside the arm64 tree; the host-arch guard is what
// stops one from shipping. Here a real amd64 program (the build host's own `true`) is planted through
// the artifact mechanism, on top of the cached test rootfs, and the build must refuse it by name.

const kiln = resolve('bin/kiln.js');
let t: TestImage;
let work: string;

beforeAll(async () => {
  t = await testImage();
  work = tempDir('it-guard');
});

describe('host-arch guard', () => {
  it('refuses an image holding an amd64 program and writes no output', async () => {
    await copyFile('/usr/bin/true', join(work, 'planted'));
    const spec = join(work, 'planted.yaml');
    await writeFile(
      spec,
      [
        `extends: ${testImageSpec}`,
        'artifacts:',
        '  planted:',
        '    description: TEST an amd64 program planted to see the host-arch guard refuse it',
        "    version: '1'",
        '    url: planted',
        `    sha256: ${await sha256File(join(work, 'planted'))}`,
        '    install: /usr/local/bin/planted',
        "    mode: '0755'",
        '',
      ].join('\n'),
    );
    const err = await run(process.execPath, [kiln, 'build', spec, '--lock', t.lock, '--out', join(work, 'dist')]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(/build-host \(not arm64\) files:[\s\S]*\/usr\/local\/bin\/planted: x86-64 ELF/);
    await expect(stat(join(work, 'dist', t.manifest.name))).rejects.toThrow();
  });
});
