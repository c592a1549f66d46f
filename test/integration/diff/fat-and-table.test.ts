import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kiln } from '../../helpers/cli.js';
import { baseSpec, buildFixture, type FixtureSpec } from '../../helpers/images/fs-image.js';
import { tempDir } from '../../helpers/tmp.js';

interface JsonReport {
  identical: boolean;
  layers: {
    id: string;
    status: string;
    fields: { field: string; a: unknown; b: unknown }[];
    entries: { name: string; fields: { field: string }[]; unifiedDiff?: string }[];
  }[];
}

// Differences outside the root filesystem: the MBR disk id, the FAT volume id, a boot file.
describe('kiln diff: partition table and FAT boot partition', () => {
  let work: string;
  let base: string;
  let n = 0;
  beforeAll(async () => {
    work = tempDir('diff-fat');
    base = (await buildFixture(join(work, 'base'), baseSpec())).img;
  });

  async function diffWith(change: (s: FixtureSpec) => void): Promise<JsonReport> {
    const spec = baseSpec();
    change(spec);
    const other = await buildFixture(join(work, `v${n++}`), spec);
    const r = await kiln('diff', '--json', base, other.img);
    expect(r.code).toBe(1);
    return JSON.parse(r.stdout) as JsonReport;
  }
  const differing = (r: JsonReport) => r.layers.filter((l) => l.status === 'different').map((l) => l.id);

  it('the disk id: partition table only, partitions untouched', async () => {
    const r = await diffWith((s) => {
      s.diskId = 0x4b494c4f;
    });
    expect(differing(r)).toEqual(['image', 'partition-table']);
    const table = r.layers.find((l) => l.id === 'partition-table');
    expect(table?.fields).toEqual([{ field: 'diskId', a: '4b494c4e', b: '4b494c4f' }]);
    expect(r.layers.find((l) => l.id === 'partition1')?.status).toBe('same');
    expect(r.layers.find((l) => l.id === 'partition2')?.status).toBe('same');
  });

  it('the FAT volume id: FAT metadata layer, files unchanged', async () => {
    const r = await diffWith((s) => {
      s.fatId = 'CAFEF00D';
    });
    expect(differing(r)).toEqual(['image', 'partition1', 'partition1:filesystem']);
    const fs = r.layers.find((l) => l.id === 'partition1:filesystem');
    expect(fs?.fields).toEqual([{ field: 'volumeId', a: '1234ABCD', b: 'CAFEF00D' }]);
  });

  it('a boot file: FAT files layer with a unified diff', async () => {
    const r = await diffWith((s) => {
      s.boot['config.txt'] = { content: 'arm_64bit=1\nenable_uart=0\nkernel=vmlinuz\n' };
    });
    expect(differing(r)).toEqual(['image', 'partition1', 'partition1:files']);
    const files = r.layers.find((l) => l.id === 'partition1:files');
    expect(files?.entries.map((e) => [e.name, e.fields.map((f) => f.field)])).toEqual([['/config.txt', ['sha256']]]);
    expect(files?.entries[0]?.unifiedDiff).toContain('-enable_uart=1\n+enable_uart=0\n');
  });

  it('an added boot file and a FAT mtime change', async () => {
    const r = await diffWith((s) => {
      s.boot['overlays/new.dtbo'] = { content: 'n' };
      s.boot['cmdline.txt'] = { ...s.boot['cmdline.txt'], mtime: 1700000010 };
    });
    const files = r.layers.find((l) => l.id === 'partition1:files');
    const names = files?.entries.map((e) => e.name);
    expect(names).toContain('/overlays/new.dtbo');
    expect(files?.entries.find((e) => e.name === '/cmdline.txt')?.fields.map((f) => f.field)).toEqual(['mtime']);
  });

  it('renders text and a self-contained HTML page for the same pair', async () => {
    const spec = baseSpec();
    spec.fatId = 'CAFEF00D';
    const other = await buildFixture(join(work, 'html'), spec);
    const text = await kiln('diff', base, other.img);
    expect(text.code).toBe(1);
    expect(text.stdout.split('\n')[1]).toBe('DIFFERENT in 3 layer(s): image, partition1, partition1:filesystem');
    expect(text.stdout).toContain('volumeId: 1234ABCD → CAFEF00D');
    const page = join(work, 'report.html');
    const html = await kiln('diff', '--html', page, base, other.img);
    expect(html.code).toBe(1);
    const { readFile } = await import('node:fs/promises');
    const content = await readFile(page, 'utf8');
    expect(content).toContain('<td class="v">CAFEF00D</td>');
    expect(content).not.toMatch(/<script|src=|href=/);
  });
});
