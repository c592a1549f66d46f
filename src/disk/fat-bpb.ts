// Pure reader of the FAT boot sector (BIOS parameter block). mtools reads the trees; the few
// identity fields a rebuild must reproduce (volume id, label, geometry) come straight from here.

import type { Scalar } from './tree.js';

export interface FatBootSector {
  oemName: string;
  bytesPerSector: number;
  sectorsPerCluster: number;
  reservedSectors: number;
  fatCount: number;
  rootEntries: number;
  totalSectors: number;
  sectorsPerFat: number;
  hiddenSectors: number;
  mediaDescriptor: number;
  /** Volume serial as 8 uppercase hex digits, the form `mkfs.fat -i` takes. */
  volumeId: string;
  label: string;
  fsType: string;
  fat32: boolean;
}

export function parseFatBootSector(sector: Uint8Array): FatBootSector | undefined {
  const b = Buffer.from(sector.buffer, sector.byteOffset, sector.byteLength);
  if (b.length < 512 || b.readUInt16LE(510) !== 0xaa55) return undefined;
  const bytesPerSector = b.readUInt16LE(11);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) return undefined;
  const sectorsPerFat16 = b.readUInt16LE(22);
  const fat32 = sectorsPerFat16 === 0;
  // FAT32 moves the extended fields (serial, label, type) 28 bytes further on.
  const ext = fat32 ? 64 : 36;
  const total16 = b.readUInt16LE(19);
  return {
    oemName: b.toString('latin1', 3, 11).trimEnd(),
    bytesPerSector,
    sectorsPerCluster: b[13] ?? 0,
    reservedSectors: b.readUInt16LE(14),
    fatCount: b[16] ?? 0,
    rootEntries: b.readUInt16LE(17),
    totalSectors: total16 !== 0 ? total16 : b.readUInt32LE(32),
    sectorsPerFat: fat32 ? b.readUInt32LE(36) : sectorsPerFat16,
    hiddenSectors: b.readUInt32LE(28),
    mediaDescriptor: b[21] ?? 0,
    volumeId: b
      .readUInt32LE(ext + 3)
      .toString(16)
      .toUpperCase()
      .padStart(8, '0'),
    label: b.toString('latin1', ext + 7, ext + 18).trimEnd(),
    fsType: b.toString('latin1', ext + 18, ext + 26).trimEnd(),
    fat32,
  };
}

export function fatMeta(bs: FatBootSector): Record<string, Scalar> {
  return {
    volumeId: bs.volumeId,
    label: bs.label,
    fsType: bs.fsType,
    oemName: bs.oemName,
    bytesPerSector: bs.bytesPerSector,
    sectorsPerCluster: bs.sectorsPerCluster,
    reservedSectors: bs.reservedSectors,
    fatCount: bs.fatCount,
    totalSectors: bs.totalSectors,
    sectorsPerFat: bs.sectorsPerFat,
    hiddenSectors: bs.hiddenSectors,
    mediaDescriptor: `0x${bs.mediaDescriptor.toString(16)}`,
  };
}
