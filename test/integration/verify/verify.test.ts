import { copyFile, open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseBmap, rangeBytes } from '../../../src/disk/bmap.js';
import { must } from '../../helpers/must.js';
import { kiln } from '../../helpers/cli.js';
import { baseSpec, buildFixture, fixtureLayout, type BuiltFixture } from '../../helpers/images/fs-image.js';
import { tempDir } from '../../helpers/tmp.js';

interface JsonVerify {
  ok: boolean;
  checks: { subject: string; status: string; detail: string }[];
}

async function poke(path: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(bytes, 0, bytes.length, offset);
  await fh.close();
}

describe('kiln verify', () => {
  let work: string;
  let build: BuiltFixture;
  beforeAll(async () => {
    work = tempDir('verify');
    build = await buildFixture(join(work, 'dist'), baseSpec(), { products: true });
  });

  async function copyBuild(name: string): Promise<string> {
    const dir = join(work, name);
    const { cp } = await import('node:fs/promises');
    await cp(build.dir, dir, { recursive: true });
    return dir;
  }

  it('passes a fresh build and says what it checked', async () => {
    const r = await kiln('verify', build.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const subject of [
      'SHA256SUMS fixture.img',
      'image sha256',
      'MBR disk id',
      'partition 1 FAT volume id',
      'partition 2 ext4 hash seed',
      'partition 2 PARTUUID',
      'partition 2 files',
      'bmap ranges on image',
      'fixture.img.zst integrity',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^ok +${subject} `, 'm'));
    }
    expect(r.stdout).toMatch(/^VERIFIED: \d+ checks passed$/m);
  });

  it('fails a build whose image changed after the fact, naming each broken promise', async () => {
    const dir = await copyBuild('tampered');
    // Change one byte in the last mapped range (root partition metadata or data).
    const bmap = parseBmap(await readFile(join(dir, 'fixture.bmap'), 'utf8'));
    const last = bmap.ranges[bmap.ranges.length - 1];
    if (!last) throw new Error('empty bmap');
    await poke(join(dir, 'fixture.img'), rangeBytes(bmap, last).offset + 100, Buffer.from('X'));
    const r = await kiln('verify', '--json', dir);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as JsonVerify;
    const failed = report.checks.filter((c) => c.status === 'fail').map((c) => c.subject);
    expect(failed).toEqual(expect.arrayContaining(['SHA256SUMS fixture.img', 'image sha256', 'partition 2 sha256', 'bmap ranges on image']));
    expect(failed).not.toContain('MBR disk id');
  });

  it('fails a manifest that no longer matches (wrong hash seed recorded)', async () => {
    const dir = await copyBuild('badmanifest');
    const path = join(dir, 'manifest.json');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('66666666-7777-4888-9999-aaaaaaaaaaaa', '66666666-7777-4888-9999-cccccccccccc'));
    const r = await kiln('verify', '--no-files', dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^FAIL +partition 2 ext4 hash seed +manifest says 66666666-7777-4888-9999-cccccccccccc, image has 66666666-7777-4888-9999-aaaaaaaaaaaa$/m,
    );
    expect(r.stdout).toMatch(/^FAIL +SHA256SUMS manifest.json /m);
  });

  it('checks a written device against the bmap ranges, ignoring unmapped blocks', async () => {
    const dev = join(work, 'device.bin');
    await copyFile(build.img, dev);
    await truncate(dev, 64 * 1024 * 1024); // a bigger disk than the image
    const bmap = parseBmap(await readFile(join(build.dir, 'fixture.bmap'), 'utf8'));
    // Garbage in a block the bmap does not map (a hole) must not matter.
    const firstHole = (bmap.ranges[0]?.last ?? 0) + 1;
    await poke(dev, firstHole * bmap.blockSize, Buffer.from('garbage'));
    const good = await kiln('verify', build.dir, '--device', dev);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^ok +bmap ranges on device +\d+ ranges, \d+ mapped bytes match$/m);
    // ... but a changed mapped block does.
    await poke(dev, rangeBytes(bmap, must(bmap.ranges[1] ?? bmap.ranges[0], 'a mapped range in the bmap')).offset, Buffer.from('garbage'));
    const bad = await kiln('verify', build.dir, '--device', dev);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL +bmap ranges on device +1 of \d+ ranges differ/m);
    await truncate(dev, 1024 * 1024);
    const small = await kiln('verify', build.dir, '--device', dev);
    expect(small.code).toBe(1);
    expect(small.stdout).toMatch(/device size +1048576 bytes, smaller than the image/);
  });

  it('checks a lone bare image for a sound table only, and a device against it byte for byte', async () => {
    const lone = join(work, 'lone');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(lone);
    const img = join(lone, 'x.img');
    await copyFile(build.img, img);
    const r = await kiln('verify', img);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^skip +SHA256SUMS /m);
    expect(r.stdout).toMatch(/^skip +manifest +bare image/m);
    expect(r.stdout).toMatch(/^ok +partition 1 filesystem +FAT \(FAT32\), volume id 1234ABCD, label BOOT$/m);
    expect(r.stdout).toMatch(
      /^ok +partition 2 filesystem +ext4, UUID 11111111-2222-4333-8444-555555555555, hash seed 66666666-7777-4888-9999-aaaaaaaaaaaa, label root$/m,
    );
    const dev = join(work, 'lone-device.bin');
    await copyFile(img, dev);
    expect((await kiln('verify', img, '--device', dev)).stdout).toMatch(/^ok +device bytes 0\.\.image size /m);
    await poke(dev, 5 * 1024 * 1024, Buffer.from('x'));
    expect((await kiln('verify', img, '--device', dev)).code).toBe(1);
  });

  it('errors (exit 2) on a truncated image', async () => {
    const dir = await copyBuild('truncated');
    await truncate(join(dir, 'fixture.img'), 20 * 1024 * 1024);
    const r = await kiln('verify', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`truncated: partition 1 ends at byte ${fixtureLayout(baseSpec()).boot.end} beyond image size 20971520`);
  });
});
