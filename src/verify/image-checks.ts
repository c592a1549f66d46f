import type { Manifest } from '../manifest/schema.js';
import { formatDiskId, partitionBytes, partUuid } from '../disk/mbr.js';
import { readAt, sha256Range } from '../disk/bytes.js';
import { readExt4Superblock } from '../disk/ext4.js';
import { parseFatBootSector } from '../disk/fat-bpb.js';
import { detectFs } from '../disk/fstype.js';
import type { OpenedImage } from '../disk/image.js';
import { expectEqual, fail, ok, skip, type Check } from './model.js';

// The image's own structure against what the manifest recorded: table, partition bytes and the
// filesystem identities that boot configuration depends on (PARTUUID, UUID, hash seed, volume id).

export async function checkImageAgainstManifest(img: OpenedImage, m: Manifest, imageSha256: string): Promise<Check[]> {
  const checks: Check[] = [
    expectEqual('image size', m.image.size, img.size),
    expectEqual('image sha256', m.image.sha256, imageSha256),
    expectEqual('MBR disk id', m.diskId.toLowerCase(), formatDiskId(img.mbr.diskId)),
  ];
  const indexes = new Set([...m.partitions.map((p) => p.index), ...img.mbr.partitions.map((p) => p.index)]);
  for (const index of [...indexes].sort()) {
    const mp = m.partitions.find((p) => p.index === index);
    const ip = img.mbr.partitions.find((p) => p.index === index);
    const subject = `partition ${index}`;
    if (!mp) {
      checks.push(fail(subject, 'in the image table but not in the manifest'));
      continue;
    }
    if (!ip) {
      checks.push(fail(subject, 'in the manifest but not in the image table'));
      continue;
    }
    const r = partitionBytes(ip);
    const layout = `type 0x${ip.type.toString(16)}, ${ip.bootable ? 'bootable, ' : ''}sectors ${ip.startLba}+${ip.sectors}`;
    const same =
      mp.type === ip.type &&
      mp.bootable === ip.bootable &&
      mp.startSector === ip.startLba &&
      mp.sectors === ip.sectors &&
      mp.offset === r.offset &&
      mp.size === r.size;
    checks.push(
      same
        ? ok(`${subject} table entry`, layout)
        : fail(`${subject} table entry`, `manifest says type 0x${mp.type.toString(16)}, sectors ${mp.startSector}+${mp.sectors}; image has ${layout}`),
    );
    checks.push(expectEqual(`${subject} PARTUUID`, mp.partuuid.toLowerCase(), partUuid(img.mbr.diskId, index)));
    checks.push(expectEqual(`${subject} sha256`, mp.sha256, await sha256Range(img.path, r.offset, r.size)));
    checks.push(...(await checkFsIdentity(img, r.offset, r.size, mp)));
  }
  return checks;
}

async function checkFsIdentity(img: OpenedImage, offset: number, size: number, mp: Manifest['partitions'][number]): Promise<Check[]> {
  const subject = `partition ${mp.index}`;
  const head = await readAt(img.path, offset, 2048);
  const kind = detectFs(head);
  if (kind !== mp.filesystem) return [fail(`${subject} filesystem`, `manifest says ${mp.filesystem}, bytes look like ${kind}`)];
  if (kind === 'vfat') {
    const bs = parseFatBootSector(head.subarray(0, 512));
    if (!bs) return [fail(`${subject} FAT boot sector`, 'unreadable')];
    return [
      expectEqual(`${subject} FAT volume id`, mp.fsId.toUpperCase().replace(/-/g, ''), bs.volumeId),
      expectEqual(`${subject} FAT label`, mp.label, bs.label),
    ];
  }
  const sb = await readExt4Superblock({ imagePath: img.path, offset, size });
  const checks = [
    expectEqual(`${subject} ext4 UUID`, mp.fsId.toLowerCase(), String(sb.uuid).toLowerCase()),
    expectEqual(`${subject} ext4 label`, mp.label, String(sb.label ?? '')),
  ];
  if (mp.hashSeed !== undefined) checks.push(expectEqual(`${subject} ext4 hash seed`, mp.hashSeed.toLowerCase(), String(sb.hashSeed).toLowerCase()));
  return checks;
}

/** For a bare image: the table is sound and each filesystem opens; reports the ids it found. */
export async function describeBareImage(img: OpenedImage): Promise<Check[]> {
  const checks: Check[] = [
    ok('partition table', `MBR, disk id ${formatDiskId(img.mbr.diskId)}, ${img.mbr.partitions.length} partition(s), all inside the image`),
  ];
  for (const p of img.mbr.partitions) {
    const r = partitionBytes(p);
    const head = await readAt(img.path, r.offset, 2048);
    const kind = detectFs(head);
    const subject = `partition ${p.index} filesystem`;
    if (kind === 'vfat') {
      const bs = parseFatBootSector(head.subarray(0, 512));
      checks.push(
        bs ? ok(subject, `FAT (${bs.fsType}), volume id ${bs.volumeId}, label ${bs.label || '(none)'}`) : fail(subject, 'FAT boot sector unreadable'),
      );
    } else if (kind === 'ext4') {
      const sb = await readExt4Superblock({ imagePath: img.path, offset: r.offset, size: r.size });
      checks.push(ok(subject, `ext4, UUID ${String(sb.uuid)}, hash seed ${String(sb.hashSeed)}, label ${String(sb.label) || '(none)'}`));
    } else {
      checks.push(skip(subject, `no FAT or ext4 signature (type 0x${p.type.toString(16)})`));
    }
  }
  return checks;
}
