import { cp, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { sha256 } from '../../util/hash.js';
import { partUuid, parseDiskId } from '../../disk/mbr.js';
import { BLOCK } from '../stages/disk.js';
import { renderBmap } from '../../disk/bmap.js';
import { renderSbom } from '../sbom.js';
import type { FileEntry, Manifest } from '../../manifest/schema.js';
import { MANIFEST_FILE, writeManifest } from '../../manifest/write.js';
import { need, rootfsModeOf, type Step } from '../context.js';
import { sha256SumsText } from '../../util/sha256sums.js';

/** manifest.json, the bmap, the SBOM, SHA256SUMS and boot/ beside the image. */
export const manifestStep: Step = {
  name: 'manifest',
  async run(ctx) {
    const { loaded, lock, lockPath, lockSha, ids } = need(ctx, 'inputs');
    const { out, bootDir } = need(ctx, 'workspace');
    const { artifacts } = need(ctx, 'fetch');
    const rootfs = need(ctx, 'rootfs');
    const disk = need(ctx, 'disk');
    const installer = ctx.results.installer;
    const imageTools = need(ctx, 'imageTools');
    const spec = loaded.spec;
    const imgName = `${spec.name}.img`;
    const zst = disk.zst;
    const bmapText = renderBmap(disk.size, BLOCK, disk.ranges);
    const bmapName = `${spec.name}.bmap`;
    await writeFile(join(out, bmapName), bmapText);
    await cp(bootDir, join(out, 'boot'), { recursive: true, preserveTimestamps: true });
    const bootEntries = need(ctx, 'bootEntries');
    const rootEntries = need(ctx, 'rootFs').entries;
    const diskNum = parseDiskId(ids.diskId);
    const manifest: Manifest = {
      manifestVersion: 1,
      kilnVersion: ctx.opts.kilnVersion,
      name: spec.name,
      sourceDateEpoch: spec.sourceDateEpoch,
      image: {
        file: imgName,
        size: disk.size,
        sha256: disk.sha256,
        zst: { file: zst.file, size: zst.size, sha256: zst.sha256 },
        bmap: { file: bmapName, sha256: sha256(bmapText), mappedBytes: disk.mappedBlocks * BLOCK },
      },
      diskId: ids.diskId,
      partitions: disk.partitions.map((p) => ({
        ...p,
        filesystem: p.index === 1 ? ('vfat' as const) : ('ext4' as const),
        label: p.index === 1 ? spec.disk.bootLabel : spec.disk.rootLabel,
        fsId: p.index === 1 ? ids.fatVolumeId : ids.rootUuid,
        ...(p.index === 2 ? { hashSeed: ids.rootHashSeed } : {}),
        partuuid: partUuid(diskNum, p.index),
      })),
      spec: { file: relative(process.cwd(), loaded.path), sha256: loaded.sha256, packagesHash: loaded.packagesHash },
      boards: [...spec.boards],
      lock: { file: relative(process.cwd(), lockPath), sha256: lockSha },
      artifacts,
      packages: lock.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 })),
      hostTools: rootfs.tools,
      rootfs: {
        mode: rootfsModeOf(ctx),
        ...(rootfsModeOf(ctx) === 'native' && lock.nativeTools
          ? { nativeTools: lock.nativeTools.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 })) }
          : {}),
      },
      imageTools: {
        architecture: imageTools.architecture,
        madeBy: imageTools.madeBy(),
        diskTable: `kiln ${ctx.opts.kilnVersion} (src/disk/mbr.ts; no partitioning tool)`,
        packages: (lock.imageTools?.packages ?? []).map((p) => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 })),
      },
      stages: { rootfs: rootfs.key, final: need(ctx, 'finalKey') },
      files: { boot: bootEntries.map(fatEntry), root: rootEntries },
      extras: installer
        ? {
            'installer-kernel': { file: installer.kernel.file, size: installer.kernel.size, sha256: installer.kernel.sha256 },
            'installer-initrd': { file: installer.initrd.file, size: installer.initrd.size, sha256: installer.initrd.sha256 },
          }
        : {},
    };
    const manifestText = await writeManifest(out, manifest);
    const sbomText = renderSbom(spec, lock, disk.sha256, artifacts);
    await writeFile(join(out, `${spec.name}.spdx.json`), sbomText);
    // the image, zst and bmap hashes are known already; hashing 3 GB again would double the time
    const sums = sha256SumsText([
      { sha256: disk.sha256, file: imgName },
      { sha256: zst.sha256, file: zst.file },
      { sha256: sha256(bmapText), file: bmapName },
      { sha256: sha256(manifestText), file: MANIFEST_FILE },
      { sha256: sha256(sbomText), file: `${spec.name}.spdx.json` },
    ]);
    await writeFile(join(out, 'SHA256SUMS'), sums);
    ctx.results.manifest = manifest;
    return { detail: `${rootEntries.length} root entries, ${bootEntries.length} boot entries` };
  },
};

/** FAT has no owners or modes: record what the filesystem will report for every file. */
function fatEntry(e: FileEntry): FileEntry {
  return { ...e, uid: 0, gid: 0, mode: e.type === 'dir' ? '0755' : '0644' };
}
