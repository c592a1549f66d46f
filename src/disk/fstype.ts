// Which filesystem a partition holds, judged from its first bytes rather than the partition type
// byte, because the type byte is only a hint someone wrote into the table.

export type FsKind = 'ext4' | 'vfat' | 'unknown';

/** Needs at least the first 2048 bytes of the partition. */
export function detectFs(head: Uint8Array): FsKind {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 1024 + 58 && b.readUInt16LE(1024 + 56) === 0xef53) return 'ext4';
  if (b.length >= 512 && b.readUInt16LE(510) === 0xaa55) {
    const t32 = b.toString('latin1', 82, 87);
    const t16 = b.toString('latin1', 54, 57);
    if (t32 === 'FAT32' || t16 === 'FAT') return 'vfat';
  }
  return 'unknown';
}
