import { sha256 } from '../util/hash.js';
import type { BmapRange } from './stages/disk.js';

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

export interface ParsedBmap {
  imageSize: number;
  blockSize: number;
  mappedBlocks: number;
  ranges: BmapRange[];
}

/** Reads a bmap we (or bmaptool) wrote; checks its own checksum. */
export function parseBmap(text: string): ParsedBmap {
  const num = (tag: string): number => {
    const m = new RegExp(`<${tag}>\\s*(\\d+)\\s*</${tag}>`).exec(text);
    if (!m) throw new Error(`bmap: no <${tag}>`);
    return Number(m[1]);
  };
  const sum = /<BmapFileChecksum>\s*([0-9a-f]{64})\s*<\/BmapFileChecksum>/.exec(text)?.[1];
  if (!sum) throw new Error('bmap: no sha256 BmapFileChecksum');
  if (sha256(text.replace(sum, '0'.repeat(64))) !== sum) throw new Error('bmap: file checksum does not match its contents');
  const ranges: BmapRange[] = [];
  for (const m of text.matchAll(/<Range chksum="([0-9a-f]{64})">\s*(\d+)(?:-(\d+))?\s*<\/Range>/g)) {
    ranges.push({ first: Number(m[2]), last: Number(m[3] ?? m[2]), sha256: m[1]! });
  }
  return { imageSize: num('ImageSize'), blockSize: num('BlockSize'), mappedBlocks: num('MappedBlocksCount'), ranges };
}
