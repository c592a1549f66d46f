import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assembleDisk, BLOCK, FIRST_LBA } from '../../../src/builder/stages/disk.js';
import { parseMbr } from '../../../src/disk/mbr.js';
import { tempDir } from '../../helpers/tmp.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('disk assembly', () => {
  it('lays out an MBR image, keeps zero blocks as holes, and maps exactly the data blocks', async () => {
    const d = tempDir('disk');
    const p1 = Buffer.alloc(1 << 20);
    p1.write('FAT', 3);
    const p2 = Buffer.alloc(2 << 20);
    p2.fill(7, 5 * BLOCK, 7 * BLOCK); // blocks 5..6 of partition 2
    await writeFile(join(d, 'p1'), p1);
    await writeFile(join(d, 'p2'), p2);
    const r = await assembleDisk(join(d, 'img'), 'a1b2c3d4', [
      { path: join(d, 'p1'), type: 0x0c, bootable: true, sizeBytes: p1.length },
      { path: join(d, 'p2'), type: 0x83, bootable: false, sizeBytes: p2.length },
    ]);
    const img = await readFile(join(d, 'img'));
    expect(img.length).toBe(FIRST_LBA * 512 + 3 * (1 << 20));
    expect(r.sha256).toBe(sha(img));
    const mbr = parseMbr(img.subarray(0, 512));
    expect(mbr.diskId).toBe(0xa1b2c3d4);
    expect(mbr.partitions.map((p) => [p.index, p.type, p.startLba, p.sectors, p.bootable])).toEqual([
      [1, 0x0c, FIRST_LBA, 2048, true],
      [2, 0x83, FIRST_LBA + 2048, 4096, false],
    ]);
    expect(r.partitions[1]).toMatchObject({ sha256: sha(p2) });
    const p2Block = (FIRST_LBA * 512 + (1 << 20)) / BLOCK;
    expect(r.ranges.map((x) => [x.first, x.last])).toEqual([
      [0, 0],
      [FIRST_LBA / 8, FIRST_LBA / 8],
      [p2Block + 5, p2Block + 6],
    ]);
    expect(r.ranges[2]).toMatchObject({ sha256: sha(img.subarray((p2Block + 5) * BLOCK, (p2Block + 7) * BLOCK)) });
    // the file is sparse: far fewer blocks allocated than its length
    expect((await stat(join(d, 'img'))).blocks * 512).toBeLessThan(img.length / 4);
  });

  it('refuses a partition source shorter than declared', async () => {
    const d = tempDir('disk');
    await writeFile(join(d, 'p'), Buffer.alloc(1000));
    await expect(assembleDisk(join(d, 'img'), 'a1b2c3d4', [{ path: join(d, 'p'), type: 0x83, bootable: false, sizeBytes: 1 << 20 }])).rejects.toThrow(
      /shorter/,
    );
  });
});
