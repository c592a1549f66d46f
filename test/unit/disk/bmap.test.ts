import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../src/util/hash.js';
import { bmapSelfChecksumOk, parseBmap, rangeBytes, renderBmap } from '../../../src/disk/bmap.js';
import { must } from '../../helpers/must.js';

// bmaptool's layout written out by hand (a comment included), so the reader is held to the format
// itself and not only to what renderBmap writes.
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
    expect(rangeBytes(b, must(b.ranges[1], 'the second range'))).toEqual({ offset: 4096, length: 10000 - 4096 });
  });

  it('rejects inconsistent or foreign files clearly', () => {
    expect(() => parseBmap(bmapText('0'.repeat(64), 5))).toThrow(/cover 3 blocks but MappedBlocksCount says 5/);
    expect(() => parseBmap('<bmap version="1.4"></bmap>')).toThrow(/version 1.4/);
    expect(() => parseBmap('hello')).toThrow(/not a bmaptool block map/);
  });

  it('round-trips and self-checks its checksum', () => {
    const BLOCK = 4096;
    const text = renderBmap(10 * BLOCK, BLOCK, [
      { first: 0, last: 0, sha256: 'a'.repeat(64) },
      { first: 3, last: 5, sha256: 'b'.repeat(64) },
    ]);
    expect(text).toMatch(/<bmap version="2.0">/);
    const p = parseBmap(text);
    expect(p).toMatchObject({ version: '2.0', imageSize: 10 * BLOCK, blockSize: BLOCK, blocksCount: 10, mappedBlocksCount: 4, checksumType: 'sha256' });
    expect(p.ranges).toEqual([
      { first: 0, last: 0, sha256: 'a'.repeat(64) },
      { first: 3, last: 5, sha256: 'b'.repeat(64) },
    ]);
    expect(bmapSelfChecksumOk(text, p)).toBe(true);
    const tampered = text.replace('b'.repeat(64), 'c'.repeat(64));
    expect(bmapSelfChecksumOk(tampered, parseBmap(tampered))).toBe(false);
    expect(() => parseBmap(text.replace('> 3-5 <', '> 3-6 <'))).toThrow(/MappedBlocksCount/);
  });
});
