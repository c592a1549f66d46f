import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { diffSources } from '../../../src/diff/diff.js';
import { resolveSource } from '../../../src/manifest/source.js';
import { run, ToolError } from '../../../src/util/exec.js';
import { kiln } from '../../helpers/cli.js';
import { baseSpec, buildFixture, fixtureLayout, type BuiltFixture } from '../../helpers/images/fs-image.js';
import { tempDir } from '../../helpers/tmp.js';

// diffoscope (the minimal Debian build) sees these images as opaque binaries and shows a hexdump
// diff; kiln must agree with it on the verdict and on where the bytes differ, and then say more.
async function diffoscope(a: string, b: string, report: string): Promise<{ code: number; text: string }> {
  let code = 0;
  try {
    await run('diffoscope', ['--no-progress', '--text', report, a, b], { timeoutMs: 120_000 });
  } catch (err) {
    if (!(err instanceof ToolError) || err.status !== 1) throw err;
    code = 1;
  }
  return { code, text: code === 0 ? '' : await readFile(report, 'utf8') };
}

/** Offsets of the hexdump lines diffoscope marks as changed. */
function changedOffsets(text: string): number[] {
  return [...text.matchAll(/^[-+]([0-9a-f]{8}): /gm)].map((m) => Number.parseInt(m[1] ?? '0', 16));
}

describe('kiln diff agrees with diffoscope', () => {
  let work: string;
  let a: BuiltFixture;
  let b: BuiltFixture;
  let same: BuiltFixture;
  beforeAll(async () => {
    work = tempDir('diffoscope');
    a = await buildFixture(join(work, 'a'), { ...baseSpec(), small: true });
    same = await buildFixture(join(work, 'same'), { ...baseSpec(), small: true });
    const spec = { ...baseSpec(), small: true };
    spec.root['etc/hostname'] = { content: 'kilm\n' };
    b = await buildFixture(join(work, 'b'), spec);
  });

  it('on an identical pair: both exit 0', async () => {
    expect((await diffoscope(a.img, same.img, join(work, 'same.txt'))).code).toBe(0);
    expect((await kiln('diff', a.img, same.img)).code).toBe(0);
  });

  it('on a one-byte file change: same verdict, same place, and kiln names the file', async () => {
    const ds = await diffoscope(a.img, b.img, join(work, 'diff.txt'));
    expect(ds.code).toBe(1);
    const offsets = changedOffsets(ds.text);
    expect(offsets.length).toBeGreaterThan(0);

    const report = await diffSources(await resolveSource(a.img), await resolveSource(b.img));
    expect(report.identical).toBe(false);
    const imageLayer = report.layers.find((l) => l.id === 'image');
    const first = imageLayer?.fields.find((f) => f.field === 'firstDifferenceOffset')?.a;
    // diffoscope's first changed hexdump line is the 16-byte line holding kiln's first differing byte.
    expect(Math.min(...offsets)).toBe(Math.floor(Number(first) / 16) * 16);
    // Every byte diffoscope flags lies in the partition kiln says differs.
    const p2 = fixtureLayout({ ...baseSpec(), small: true }).root;
    const root = { start: p2.offset, end: p2.end };
    expect(offsets.every((o) => o >= root.start && o < root.end)).toBe(true);
    expect(report.layers.filter((l) => l.status === 'different').map((l) => l.id)).toEqual(['image', 'partition2', 'partition2:files']);
    const files = report.layers.find((l) => l.id === 'partition2:files')?.entries ?? [];
    expect(files.map((e) => e.name)).toEqual(['/etc/hostname']);
    expect(files[0]?.unifiedDiff).toContain('-kiln\n+kilm\n');
  });
});
