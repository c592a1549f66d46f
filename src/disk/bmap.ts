import { sha256 } from '../util/hash.js';
import { KilnError } from '../util/errors.js';

// bmaptool's block map (format 2.x, sha256 per range): the writer the build uses and the reader
// verify and the installer tests use. Pure: text in, data out and back. The format is small and
// fixed, so a few anchored patterns replace an XML dependency.

export interface BmapRange {
  first: number;
  last: number;
  sha256: string;
}

export interface Bmap {
  version: string;
  imageSize: number;
  blockSize: number;
  blocksCount: number;
  mappedBlocksCount: number;
  checksumType: string;
  fileChecksum: string;
  ranges: BmapRange[];
}

export class BmapError extends KilnError {}

function tag(body: string, name: string): string {
  const m = new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`).exec(body);
  if (!m || m[1] === undefined) throw new BmapError(`bmap: missing <${name}>`);
  return m[1];
}

function int(body: string, name: string): number {
  const v = tag(body, name);
  if (!/^\d+$/.test(v)) throw new BmapError(`bmap: <${name}> is "${v}", not a number`);
  return Number(v);
}

export function parseBmap(text: string): Bmap {
  const body = text.replace(/<!--[\s\S]*?-->/g, '');
  const version = /<bmap\s+version="([^"]+)"/.exec(body)?.[1];
  if (!version) throw new BmapError('bmap: no <bmap version="..."> element; not a bmaptool block map');
  if (!version.startsWith('2.')) throw new BmapError(`bmap: version ${version} is not supported (need 2.x with sha256 ranges)`);
  const checksumType = tag(body, 'ChecksumType');
  if (checksumType !== 'sha256') throw new BmapError(`bmap: checksum type ${checksumType} is not supported (need sha256)`);
  const map = /<BlockMap>([\s\S]*)<\/BlockMap>/.exec(body)?.[1];
  if (map === undefined) throw new BmapError('bmap: missing <BlockMap>');
  const ranges: BmapRange[] = [];
  for (const m of map.matchAll(/<Range\s+chksum="([0-9a-f]{64})"\s*>\s*(\d+)(?:\s*-\s*(\d+))?\s*<\/Range>/g)) {
    const first = Number(m[2]);
    const last = m[3] === undefined ? first : Number(m[3]);
    if (last < first) throw new BmapError(`bmap: range ${first}-${last} runs backwards`);
    ranges.push({ first, last, sha256: m[1] ?? '' });
  }
  const declared = (map.match(/<Range\b/g) ?? []).length;
  if (declared !== ranges.length) throw new BmapError(`bmap: ${declared - ranges.length} <Range> element(s) could not be read`);
  const bmap: Bmap = {
    version,
    imageSize: int(body, 'ImageSize'),
    blockSize: int(body, 'BlockSize'),
    blocksCount: int(body, 'BlocksCount'),
    mappedBlocksCount: int(body, 'MappedBlocksCount'),
    checksumType,
    fileChecksum: tag(body, 'BmapFileChecksum'),
    ranges,
  };
  const mapped = ranges.reduce((n, r) => n + (r.last - r.first + 1), 0);
  if (mapped !== bmap.mappedBlocksCount) throw new BmapError(`bmap: ranges cover ${mapped} blocks but MappedBlocksCount says ${bmap.mappedBlocksCount}`);
  const lastRange = ranges[ranges.length - 1];
  if (lastRange && lastRange.last >= bmap.blocksCount)
    throw new BmapError(`bmap: range ends at block ${lastRange.last}, beyond BlocksCount ${bmap.blocksCount}`);
  return bmap;
}

/** bmaptool hashes the file with its own checksum field set to ASCII zeros. */
export function bmapSelfChecksumOk(text: string, bmap: Pick<Bmap, 'fileChecksum'>): boolean {
  const zeroed = text.replace(bmap.fileChecksum, '0'.repeat(bmap.fileChecksum.length));
  return sha256(zeroed) === bmap.fileChecksum;
}

/** Byte range of a bmap range in the image (the last block may be cut short by the image end). */
export function rangeBytes(bmap: Pick<Bmap, 'blockSize' | 'imageSize'>, r: BmapRange): { offset: number; length: number } {
  const offset = r.first * bmap.blockSize;
  const end = Math.min((r.last + 1) * bmap.blockSize, bmap.imageSize);
  return { offset, length: end - offset };
}

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
