import { describe, expect, it } from 'vitest';
import { parseFatBootSector } from '../../../src/disk/fat-bpb.js';
import { detectFs } from '../../../src/disk/fstype.js';

describe('filesystem identification', () => {
  it('reads a FAT32 boot sector and tells FAT from ext4', () => {
    const bs = Buffer.alloc(2048);
    bs.writeUInt16LE(512, 11);
    bs[13] = 1;
    bs.writeUInt16LE(32, 14);
    bs[16] = 2;
    bs[21] = 0xf8;
    bs.writeUInt32LE(69632, 32);
    bs.writeUInt32LE(536, 36);
    bs.writeUInt32LE(0x1234abcd, 67);
    bs.write('BOOT       FAT32   ', 71, 'latin1');
    bs.writeUInt16LE(0xaa55, 510);
    expect(detectFs(bs)).toBe('vfat');
    expect(parseFatBootSector(bs)).toMatchObject({
      volumeId: '1234ABCD',
      label: 'BOOT',
      fsType: 'FAT32',
      fat32: true,
      totalSectors: 69632,
      sectorsPerFat: 536,
    });
    const ext = Buffer.alloc(2048);
    ext.writeUInt16LE(0xef53, 1024 + 56);
    expect(detectFs(ext)).toBe('ext4');
    expect(detectFs(Buffer.alloc(2048))).toBe('unknown');
  });
});
