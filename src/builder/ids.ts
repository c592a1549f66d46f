import { sha256 } from '../util/hash.js';

// Identifiers that tools would otherwise pick at random, derived from the spec hash so every build of
// one spec gets the same ones (and so root=PARTUUID=<diskId>-02 is known before the disk exists).

export interface ImageIds {
  /** MBR disk signature, 8 hex digits. */
  diskId: string;
  /** FAT volume id, 8 hex digits. */
  fatVolumeId: string;
  rootUuid: string;
  rootHashSeed: string;
}

function uuidFrom(hex: string): string {
  // Shape it as an RFC 4122 version 4 UUID: tools that validate UUIDs accept it.
  const h = hex.slice(0, 32).split('');
  h[12] = '4';
  h[16] = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

export function imageIds(specSha: string): ImageIds {
  const d = (what: string): string => sha256(`kiln:${what}:${specSha}`);
  let diskId = d('disk-id').slice(0, 8);
  if (diskId === '00000000') diskId = '00000001';
  return {
    diskId,
    fatVolumeId: d('fat-volume-id').slice(0, 8),
    rootUuid: uuidFrom(d('root-uuid')),
    rootHashSeed: uuidFrom(d('root-hash-seed')),
  };
}
