import { beforeAll, describe, expect, it } from 'vitest';
import type { DiffReport } from '../../../src/diff/model.js';
import { must } from '../../helpers/must.js';
import { kiln } from '../../helpers/cli.js';
import { emulatedTestImage, testImage, type TestImage } from '../../helpers/images/test-image.js';

// The native rootfs mode must make the image the emulated (reference) mode makes: the same spec and
// lock built both ways, compared with kiln diff. The emulated build also runs under another TZ,
// locale, umask and directory, so on a cold cache (CI's fresh machine) this is the reproducibility
// check too: two cold builds, two environments, one image. The emulated rootfs is cached in
// ~/.cache/kiln like the native one, so a warm run pays only the stages after it.

let native: TestImage;
let emulated: TestImage;

beforeAll(async () => {
  native = await testImage();
  emulated = await emulatedTestImage();
});

describe('native and emulated rootfs modes', () => {
  it('record how each rootfs was made', () => {
    expect(native.manifest.rootfs?.mode).toBe('native');
    expect(native.manifest.rootfs?.nativeTools?.some((p) => p.name === 'dpkg' && p.arch === 'amd64')).toBe(true);
    expect(emulated.manifest.rootfs?.mode).toBe('emulated');
    expect(emulated.manifest.rootfs?.nativeTools).toBeUndefined();
  });

  it('give the same image bytes under another TZ, umask, locale and directory; kiln diff finds nothing but the stage keys the mode is part of', async () => {
    const r = await kiln('diff', '--json', native.dir, emulated.dir);
    expect(r.code).toBe(1); // the stage keys below differ; the bytes do not
    const report = JSON.parse(r.stdout) as DiffReport;
    expect(report.a.sha256).toBe(report.b.sha256);
    expect(report.layers.find((l) => l.id === 'image')?.status).toBe('same');
    // Every remaining difference, with its reason: the rootfs stage's cache key has the mode (and
    // the native tool root) among its inputs, and the final key has the rootfs key among its own;
    // the manifest names the spec and lock files relative to the working directory, which the
    // emulated build varies on purpose.
    const different = report.layers.filter((l) => l.status === 'different');
    expect(different.map((l) => l.id)).toEqual(['manifest:inputs']);
    const inputs = must(different[0], 'the manifest:inputs layer');
    expect(inputs.fields.map((f) => f.field).sort()).toEqual(['lock.file', 'spec.file']);
    expect(inputs.entries.map((e) => `${e.kind} ${e.name}`).sort()).toEqual(['stage final', 'stage rootfs']);
    expect(native.manifest.image.sha256).toBe(emulated.manifest.image.sha256);
  });
});
