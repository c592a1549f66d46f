// Pure codec for the classic MBR partition table (512-byte sectors, four primary entries).
// Shared by the image builder (to write the table) and by diff/verify (to read it), so both sides
// agree on one byte layout. No I/O here: callers hand in the first sector and get one back.

import { KilnError } from '../util/errors.js';

export const SECTOR_SIZE = 512;
const TABLE_OFFSET = 446;
const ENTRY_SIZE = 16;
const DISK_ID_OFFSET = 440;
const SIGNATURE_OFFSET = 510;
/** Partition type of a GPT protective MBR: such disks need a GPT reader, not this one. */
export const GPT_PROTECTIVE_TYPE = 0xee;

export interface MbrPartition {
  /** 1-based slot in the table (1..4); empty slots are omitted from `partitions`. */
  index: number;
  bootable: boolean;
  /** Partition type byte, e.g. 0x0c FAT32 (LBA), 0x83 Linux. */
  type: number;
  startLba: number;
  sectors: number;
}

export interface Mbr {
  /** 32-bit disk identifier at byte 440; Linux shows it as PARTUUID `<8 hex>-<nn>`. */
  diskId: number;
  partitions: MbrPartition[];
  /** Bytes 0..439 (boot code); kept so a round trip is byte-exact. */
  bootCode: Buffer;
  /** Bytes 444..445, normally zero ("copy protected" marker on some tools). */
  reserved: number;
}

export class MbrError extends KilnError {}

/** Parses the first sector of a disk image. Throws MbrError naming what is wrong. */
export function parseMbr(sector: Uint8Array): Mbr {
  const buf = Buffer.from(sector.buffer, sector.byteOffset, sector.byteLength);
  if (buf.length < SECTOR_SIZE) {
    throw new MbrError(`not an MBR image: only ${buf.length} bytes, an MBR needs ${SECTOR_SIZE}`);
  }
  const sig = buf.readUInt16LE(SIGNATURE_OFFSET);
  if (sig !== 0xaa55) {
    throw new MbrError(`not an MBR image: boot signature at byte ${SIGNATURE_OFFSET} is 0x${sig.toString(16).padStart(4, '0')}, expected 0xaa55`);
  }
  const partitions: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const at = TABLE_OFFSET + i * ENTRY_SIZE;
    const status = buf[at] ?? 0;
    const type = buf[at + 4] ?? 0;
    const startLba = buf.readUInt32LE(at + 8);
    const sectors = buf.readUInt32LE(at + 12);
    if (type === 0 && sectors === 0) continue;
    if (status !== 0 && status !== 0x80) {
      throw new MbrError(`not an MBR image: partition ${i + 1} has status byte 0x${status.toString(16)} (expected 0x00 or 0x80)`);
    }
    if (type === GPT_PROTECTIVE_TYPE) {
      throw new MbrError('not an MBR image: this is a GPT disk (protective MBR, type 0xee); kiln images use MBR');
    }
    partitions.push({ index: i + 1, bootable: status === 0x80, type, startLba, sectors });
  }
  const reserved = buf.readUInt16LE(444);
  return { diskId: buf.readUInt32LE(DISK_ID_OFFSET), partitions, bootCode: Buffer.from(buf.subarray(0, DISK_ID_OFFSET)), reserved };
}

/**
 * Serializes a table into one 512-byte sector. CHS fields are derived from the LBA with the
 * conventional 255 heads / 63 sectors geometry (saturating at 1023/254/63) so output is
 * deterministic and matches what fdisk writes for the same layout.
 */
export function serializeMbr(mbr: { diskId: number; partitions: readonly MbrPartition[]; bootCode?: Uint8Array; reserved?: number }): Buffer {
  const out = Buffer.alloc(SECTOR_SIZE);
  if (mbr.bootCode) {
    if (mbr.bootCode.length > DISK_ID_OFFSET) throw new MbrError(`boot code is ${mbr.bootCode.length} bytes, at most ${DISK_ID_OFFSET} fit`);
    out.set(mbr.bootCode, 0);
  }
  checkUint32(mbr.diskId, 'disk id');
  out.writeUInt32LE(mbr.diskId, DISK_ID_OFFSET);
  out.writeUInt16LE(mbr.reserved ?? 0, 444);
  const seen = new Set<number>();
  for (const p of mbr.partitions) {
    if (!Number.isInteger(p.index) || p.index < 1 || p.index > 4) throw new MbrError(`partition index ${p.index} is not 1..4`);
    if (seen.has(p.index)) throw new MbrError(`partition ${p.index} appears twice`);
    seen.add(p.index);
    if (!Number.isInteger(p.type) || p.type < 1 || p.type > 0xff) throw new MbrError(`partition ${p.index}: type ${p.type} is not 1..255`);
    checkUint32(p.startLba, `partition ${p.index} start`);
    checkUint32(p.sectors, `partition ${p.index} size`);
    if (p.sectors === 0) throw new MbrError(`partition ${p.index} has zero sectors`);
    if (p.startLba + p.sectors - 1 > 0xffffffff) throw new MbrError(`partition ${p.index} ends beyond 2^32 sectors`);
    const at = TABLE_OFFSET + (p.index - 1) * ENTRY_SIZE;
    out[at] = p.bootable ? 0x80 : 0;
    out.set(chs(p.startLba), at + 1);
    out[at + 4] = p.type;
    out.set(chs(p.startLba + p.sectors - 1), at + 5);
    out.writeUInt32LE(p.startLba, at + 8);
    out.writeUInt32LE(p.sectors, at + 12);
  }
  assertNoOverlap(mbr.partitions);
  out.writeUInt16LE(0xaa55, SIGNATURE_OFFSET);
  return out;
}

function checkUint32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new MbrError(`${what} ${v} does not fit in 32 bits`);
}

function assertNoOverlap(parts: readonly MbrPartition[]): void {
  const sorted = [...parts].sort((x, y) => x.startLba - y.startLba);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (prev && cur && prev.startLba + prev.sectors > cur.startLba) {
      throw new MbrError(`partitions ${prev.index} and ${cur.index} overlap`);
    }
  }
}

function chs(lba: number): Uint8Array {
  const heads = 255;
  const spt = 63;
  let c = Math.floor(lba / (heads * spt));
  let h = Math.floor(lba / spt) % heads;
  let s = (lba % spt) + 1;
  if (c > 1023) {
    c = 1023;
    h = 254;
    s = 63;
  }
  return Uint8Array.of(h, ((c >> 2) & 0xc0) | s, c & 0xff);
}

/** Disk id as Linux prints it (8 lowercase hex digits). */
export function formatDiskId(id: number): string {
  checkUint32(id, 'disk id');
  return id.toString(16).padStart(8, '0');
}

/** Accepts `a1b2c3d4` or `0xA1B2C3D4`. */
export function parseDiskId(text: string): number {
  const m = /^(?:0x)?([0-9a-fA-F]{1,8})$/.exec(text.trim());
  if (!m?.[1]) throw new MbrError(`disk id "${text}" is not 8 hex digits`);
  return Number.parseInt(m[1], 16);
}

/** PARTUUID of a partition, as in `root=PARTUUID=<diskid>-02`. */
export function partUuid(diskId: number, index: number): string {
  return `${formatDiskId(diskId)}-${index.toString(16).padStart(2, '0')}`;
}

/** Byte range of a partition inside the image. */
export function partitionBytes(p: Pick<MbrPartition, 'startLba' | 'sectors'>): { offset: number; size: number; end: number } {
  const offset = p.startLba * SECTOR_SIZE;
  const size = p.sectors * SECTOR_SIZE;
  return { offset, size, end: offset + size };
}

/**
 * Checks that every partition lies inside an image of `imageSize` bytes. Returns the problem as
 * text (a truncated download or a damaged table) or undefined when the layout fits.
 */
export function checkFits(mbr: Pick<Mbr, 'partitions'>, imageSize: number): string | undefined {
  for (const p of mbr.partitions) {
    const { offset, end } = partitionBytes(p);
    if (p.startLba === 0) return `partition ${p.index} starts at sector 0, on top of the partition table`;
    if (end > imageSize) {
      return `truncated: partition ${p.index} ends at byte ${end} beyond image size ${imageSize}${offset >= imageSize ? ' (it starts past the end)' : ''}`;
    }
  }
  return undefined;
}
