import { sha256 } from '../util/hash.js';
import type { BmapRange } from '../builder/stages/disk.js';

/**
 * Block map in bmaptool's XML format 2.0 (sha256 per range), so `bmaptool copy --bmap` writes only
 * the mapped blocks and checks each range. Pure: ranges in, text out.
 */
export function renderBmap(imageSize: number, blockSize: number, ranges: readonly BmapRange[]): string {
  const blocks = Math.ceil(imageSize / blockSize);
  const mapped = ranges.reduce((n, r) => n + r.last - r.first + 1, 0);
  const pct = blocks ? ((mapped / blocks) * 100).toFixed(1) : '0.0';
  const body = (checksum: string): string =>
    [
      '<?xml version="1.0" ?>',
      '<!-- Block map written by kiln: the blocks of the image that hold data. Tools such as',
      '     bmaptool copy only these to the target and verify each range by its sha256. -->',
      '<bmap version="2.0">',
      `    <!-- Image size in bytes: ${imageSize} -->`,
      `    <ImageSize> ${imageSize} </ImageSize>`,
      `    <BlockSize> ${blockSize} </BlockSize>`,
      `    <BlocksCount> ${blocks} </BlocksCount>`,
      `    <!-- Mapped: ${mapped * blockSize} bytes, ${pct}% of the image -->`,
      `    <MappedBlocksCount> ${mapped} </MappedBlocksCount>`,
      '    <ChecksumType> sha256 </ChecksumType>',
      `    <BmapFileChecksum> ${checksum} </BmapFileChecksum>`,
      '    <BlockMap>',
      ...ranges.map((r) => `        <Range chksum="${r.sha256}"> ${r.first === r.last ? r.first : `${r.first}-${r.last}`} </Range>`),
      '    </BlockMap>',
      '</bmap>',
      '',
    ].join('\n');
  // The file's own checksum is computed with that field set to zeros (bmaptool's rule).
  return body(sha256(body('0'.repeat(64))));
}

// Reading a bmap back (and checking its self-checksum) lives in src/verify/bmap.ts.
