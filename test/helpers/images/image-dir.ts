import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LaidPartition } from '../../../src/builder/stages/disk.js';
import { partUuid, parseDiskId } from '../../../src/disk/mbr.js';
import type { Manifest } from '../../../src/manifest/schema.js';
import { MANIFEST_FILE, manifestText, placeholderProvenance } from '../../../src/manifest/write.js';
import { sha256 } from '../../../src/util/hash.js';

// What every hand-made test image shares: the manifest (written by src/manifest/write.ts, so the
// schema checks it), partition entries as the build's manifest step makes them, and the images
// dir `kiln serve` reads (`<imagesDir>/<name>/`: boot/, installer/, .img, .img.zst, .bmap).

export const EPOCH = 1700000000;

/** Deterministic pseudo-random bytes (AES-CTR keystream), so a failure reproduces byte for byte. */
export function noise(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}

export interface PartitionFs {
  filesystem: 'vfat' | 'ext4';
  label: string;
  fsId: string;
  hashSeed?: string;
}

/** Manifest partitions from assembleDisk's layout, with PARTUUIDs from src/disk/mbr.ts (as the build's manifest step). */
export function manifestPartitions(diskId: string, laid: readonly LaidPartition[], fs: readonly PartitionFs[]): Manifest['partitions'] {
  return laid.map((p, i) => {
    const f = fs[i];
    if (!f) throw new Error(`no filesystem given for partition ${p.index}`);
    return { ...p, ...f, partuuid: partUuid(parseDiskId(diskId), p.index) };
  });
}

export interface ImageFacts {
  name: string;
  epoch?: number;
  img: { size: number; sha256: string };
  zst: { size: number; sha256: string };
  bmap: { text: string; mappedBytes: number };
  diskId: string;
  partitions?: Manifest['partitions'];
}

/** A manifest for a hand-made image; provenance (spec, lock, packages, files, ...) is placeholder unless given. */
export function imageManifest(f: ImageFacts, provenance: Partial<Manifest> = {}): Manifest {
  return {
    manifestVersion: 1,
    kilnVersion: '0.1.0',
    name: f.name,
    sourceDateEpoch: f.epoch ?? EPOCH,
    image: {
      file: `${f.name}.img`,
      size: f.img.size,
      sha256: f.img.sha256,
      zst: { file: `${f.name}.img.zst`, ...f.zst },
      bmap: { file: `${f.name}.bmap`, sha256: sha256(f.bmap.text), mappedBytes: f.bmap.mappedBytes },
    },
    diskId: f.diskId,
    partitions: f.partitions ?? [],
    ...placeholderProvenance(f.name),
    ...provenance,
  };
}

export interface ImageDir extends Omit<ImageFacts, 'img' | 'zst'> {
  /** The raw image: its bytes, or an image file (copied sparse; its size and sha256 as assembleDisk gave them). */
  img: Buffer | { file: string; size: number; sha256: string };
  /** Stands in for the .img.zst: kiln serve only hands it out, so it need not be a zstd stream. */
  zst: Buffer;
  /** Files under boot/, by path. */
  boot: Record<string, string | Buffer>;
  installer?: { kernel: Buffer; initrd: Buffer };
}

/** Writes `<imagesDir>/<name>/` as `kiln build` leaves it; returns the dir and the .img path. */
export function writeImageDir(imagesDir: string, d: ImageDir): { dir: string; img: string } {
  const dir = join(imagesDir, d.name);
  mkdirSync(join(dir, 'boot'), { recursive: true });
  for (const [rel, data] of Object.entries(d.boot)) {
    mkdirSync(dirname(join(dir, 'boot', rel)), { recursive: true });
    writeFileSync(join(dir, 'boot', rel), data);
  }
  if (d.installer) {
    mkdirSync(join(dir, 'installer'), { recursive: true });
    writeFileSync(join(dir, 'installer', 'vmlinuz'), d.installer.kernel);
    writeFileSync(join(dir, 'installer', 'initrd.img'), d.installer.initrd);
  }
  const img = join(dir, `${d.name}.img`);
  let facts: { size: number; sha256: string };
  if (Buffer.isBuffer(d.img)) {
    writeFileSync(img, d.img);
    facts = { size: d.img.length, sha256: sha256(d.img) };
  } else {
    execFileSync('cp', ['--sparse=always', d.img.file, img]);
    facts = { size: d.img.size, sha256: d.img.sha256 };
  }
  writeFileSync(join(dir, `${d.name}.img.zst`), d.zst);
  writeFileSync(join(dir, `${d.name}.bmap`), d.bmap.text);
  const manifest = imageManifest({ ...d, img: facts, zst: { size: d.zst.length, sha256: sha256(d.zst) } });
  writeFileSync(join(dir, MANIFEST_FILE), manifestText(manifest));
  return { dir, img };
}
