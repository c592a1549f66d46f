import { describe, expect, it } from 'vitest';
import { MbrError, checkFits, formatDiskId, parseDiskId, parseMbr, partUuid, partitionBytes, serializeMbr } from '../../../src/disk/mbr.js';

const boot = { index: 1, bootable: true, type: 0x0c, startLba: 2048, sectors: 524288 };
const root = { index: 2, bootable: false, type: 0x83, startLba: 526336, sectors: 4194304 };
const parts = [boot, root];

describe('MBR codec', () => {
  it('round-trips a kiln layout byte for byte', () => {
    const sector = serializeMbr({ diskId: 0xdeadbeef, partitions: parts });
    expect(sector.length).toBe(512);
    expect(sector.readUInt16LE(510)).toBe(0xaa55);
    const mbr = parseMbr(sector);
    expect(mbr.diskId).toBe(0xdeadbeef);
    expect(mbr.partitions).toEqual(parts);
    expect(serializeMbr(mbr).equals(sector)).toBe(true);
  });

  it('writes the entry fields at their fixed offsets', () => {
    const s = serializeMbr({ diskId: 0x01020304, partitions: parts });
    expect(s.readUInt32LE(440)).toBe(0x01020304);
    expect(s[446]).toBe(0x80);
    expect(s[446 + 4]).toBe(0x0c);
    expect(s.readUInt32LE(446 + 8)).toBe(2048);
    expect(s.readUInt32LE(446 + 16 + 12)).toBe(4194304);
    // CHS of LBA 2048 with 255/63 geometry: cylinder 0, head 32, sector 33.
    expect([...s.subarray(447, 450)]).toEqual([32, 33, 0]);
  });

  it('rejects what is not an MBR with a clear message', () => {
    expect(() => parseMbr(Buffer.alloc(512))).toThrow(/not an MBR image: boot signature at byte 510 is 0x0000/);
    expect(() => parseMbr(Buffer.alloc(100))).toThrow(/only 100 bytes/);
    const gpt = serializeMbr({ diskId: 0, partitions: [{ index: 1, bootable: false, type: 0xee, startLba: 1, sectors: 100 }] });
    expect(() => parseMbr(gpt)).toThrow(/GPT/);
    const bad = serializeMbr({ diskId: 0, partitions: parts });
    bad[446] = 0x12;
    expect(() => parseMbr(bad)).toThrow(/status byte 0x12/);
  });

  it('refuses to serialize impossible tables', () => {
    expect(() => serializeMbr({ diskId: 0, partitions: [{ ...boot, index: 5 }] })).toThrow(MbrError);
    expect(() => serializeMbr({ diskId: 2 ** 32, partitions: parts })).toThrow(/32 bits/);
    expect(() => serializeMbr({ diskId: 0, partitions: [boot, { ...root, startLba: 4096 }] })).toThrow(/overlap/);
  });

  it('reports truncation naming the partition, its end and the image size', () => {
    const mbr = parseMbr(serializeMbr({ diskId: 1, partitions: parts }));
    const end = partitionBytes(root).end;
    expect(checkFits(mbr, end)).toBeUndefined();
    expect(checkFits(mbr, end - 1)).toBe(`truncated: partition 2 ends at byte ${end} beyond image size ${end - 1}`);
  });

  it('formats disk ids and PARTUUIDs as Linux does', () => {
    expect(formatDiskId(0x4b494c4e)).toBe('4b494c4e');
    expect(parseDiskId('0x4B494C4E')).toBe(0x4b494c4e);
    expect(partUuid(0xab, 2)).toBe('000000ab-02');
    expect(() => parseDiskId('xyz')).toThrow(/not 8 hex/);
  });
});
