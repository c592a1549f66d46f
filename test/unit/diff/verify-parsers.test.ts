import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../src/util/hash.js';
import { bmapSelfChecksumOk, parseBmap, rangeBytes } from '../../../src/disk/bmap.js';
import { parseSha256Sums } from '../../../src/verify/sha256sums.js';
import { parseFatBootSector } from '../../../src/disk/fat-bpb.js';
import { detectFs } from '../../../src/disk/fstype.js';

function bmapText(checksum: string, mapped = 3): string {
  return `<?xml version="1.0" ?>
<!-- <ImageSize> 1 </ImageSize> in a comment must be ignored -->
<bmap version="2.0">
    <ImageSize> 10000 </ImageSize>
    <BlockSize> 4096 </BlockSize>
    <BlocksCount> 3 </BlocksCount>
    <MappedBlocksCount> ${mapped} </MappedBlocksCount>
    <ChecksumType> sha256 </ChecksumType>
    <BmapFileChecksum> ${checksum} </BmapFileChecksum>
    <BlockMap>
        <Range chksum="${'1'.repeat(64)}"> 0 </Range>
        <Range chksum="${'2'.repeat(64)}"> 1-2 </Range>
    </BlockMap>
</bmap>
`;
}

describe('bmap', () => {
  it('parses ranges and checks its own checksum the way bmaptool computes it', () => {
    const zero = '0'.repeat(64);
    const sum = sha256(bmapText(zero));
    const text = bmapText(sum);
    const b = parseBmap(text);
    expect(b.imageSize).toBe(10000);
    expect(b.ranges).toEqual([
      { first: 0, last: 0, sha256: '1'.repeat(64) },
      { first: 1, last: 2, sha256: '2'.repeat(64) },
    ]);
    expect(bmapSelfChecksumOk(text, b)).toBe(true);
    expect(bmapSelfChecksumOk(text.replace('<BlockSize> 4096', '<BlockSize>  4096'), b)).toBe(false);
    // The last range is cut at the image end.
    expect(rangeBytes(b, b.ranges[1]!)).toEqual({ offset: 4096, length: 10000 - 4096 });
  });

  it('rejects inconsistent or foreign files clearly', () => {
    expect(() => parseBmap(bmapText('0'.repeat(64), 5))).toThrow(/cover 3 blocks but MappedBlocksCount says 5/);
    expect(() => parseBmap('<bmap version="1.4"></bmap>')).toThrow(/version 1.4/);
    expect(() => parseBmap('hello')).toThrow(/not a bmaptool block map/);
  });
});

describe('SHA256SUMS', () => {
  it('reads text and binary mode lines and rejects paths', () => {
    const h = 'ab'.repeat(32);
    expect(parseSha256Sums(`${h}  pi.img\n${h} *pi.bmap\n`)).toEqual([
      { sha256: h, file: 'pi.img' },
      { sha256: h, file: 'pi.bmap' },
    ]);
    expect(() => parseSha256Sums(`${h}  ../etc/passwd\n`)).toThrow(/not a plain file name/);
    expect(() => parseSha256Sums('nonsense\n')).toThrow(/line 1/);
  });
});

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
    expect(parseFatBootSector(bs)).toMatchObject({ volumeId: '1234ABCD', label: 'BOOT', fsType: 'FAT32', fat32: true, totalSectors: 69632, sectorsPerFat: 536 });
    const ext = Buffer.alloc(2048);
    ext.writeUInt16LE(0xef53, 1024 + 56);
    expect(detectFs(ext)).toBe('ext4');
    expect(detectFs(Buffer.alloc(2048))).toBe('unknown');
  });
});
