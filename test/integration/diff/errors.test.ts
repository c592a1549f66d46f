import { copyFile, open, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kiln } from '../../helpers/cli.js';
import { baseSpec, buildFixture, fixtureLayout, type BuiltFixture } from '../../helpers/images/fs-image.js';
import { tempDir } from '../../helpers/tmp.js';

const ROOT = fixtureLayout(baseSpec()).root;
const ROOT_OFFSET = ROOT.offset;

// Bad input ends in exit 2 with one line that says what is wrong, never in a bogus "different".
describe('kiln diff: corrupt and truncated input', () => {
  let work: string;
  let good: BuiltFixture;
  let other: BuiltFixture;
  beforeAll(async () => {
    work = tempDir('diff-bad');
    good = await buildFixture(join(work, 'good'), baseSpec());
    const spec = baseSpec();
    spec.root['etc/hostname'] = { content: 'other\n' };
    other = await buildFixture(join(work, 'other'), spec);
  });

  async function damaged(name: string, damage: (path: string) => Promise<void>): Promise<string> {
    const path = join(work, name);
    await copyFile(good.img, path);
    await damage(path);
    return path;
  }

  async function poke(path: string, offset: number, bytes: Buffer): Promise<void> {
    const fh = await open(path, 'r+');
    await fh.write(bytes, 0, bytes.length, offset);
    await fh.close();
  }

  it('a truncated image', async () => {
    const img = await damaged('truncated.img', (p) => truncate(p, 40 * 1024 * 1024));
    const r = await kiln('diff', good.img, img);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`kiln diff: error: ${img}: truncated: partition 2 ends at byte ${ROOT.end} beyond image size 41943040\n`);
  });

  it('an image without a partition table', async () => {
    const img = await damaged('nombr.img', (p) => poke(p, 510, Buffer.from([0, 0])));
    const r = await kiln('diff', img, good.img);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${img}: not an MBR image: boot signature at byte 510 is 0x0000, expected 0xaa55`);
  });

  it('a root filesystem with a destroyed superblock', async () => {
    const img = await damaged('nosb.img', (p) => poke(p, ROOT_OFFSET + 1024, Buffer.alloc(1024)));
    const r = await kiln('diff', other.img, img);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`kiln diff: error: ${img}: partition 2 holds no recognizable filesystem (the other side has ext4): corrupt image\n`);
  });

  it('an ext4 filesystem debugfs cannot open', async () => {
    // Keep the magic but claim an impossible block size (s_log_block_size = 10): debugfs refuses it.
    const img = await damaged('badsb.img', (p) => poke(p, ROOT_OFFSET + 1024 + 24, Buffer.from([10])));
    const r = await kiln('diff', other.img, img);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`kiln diff: error: cannot read ext4 at byte ${ROOT_OFFSET} of .*badsb\\.img: .*superblock is corrupt`));
  });

  it('a missing path, a tiny file and a directory without a manifest', async () => {
    const missing = await kiln('diff', join(work, 'nope.img'), good.img);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.img: no such file or directory');
    const tiny = join(work, 'tiny.img');
    await writeFile(tiny, 'x');
    expect((await kiln('diff', tiny, good.img)).stderr).toContain('not an MBR image: 1 bytes, smaller than one sector');
    const r = await kiln('diff', work, good.img);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not a build directory (no manifest.json)');
  });

  it('a damaged manifest', async () => {
    const dir = join(work, 'badmanifest');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'manifest.json'), JSON.stringify({ manifestVersion: 2 }));
    const r = await kiln('diff', dir, good.img);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/manifest\.json: not a kiln manifest: manifestVersion: /);
  });
});
