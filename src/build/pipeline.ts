import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { loadSpec, type LoadedSpec } from '../spec/load.js';
import { lockPathFor, readLock, type Lock } from '../lock/lockfile.js';
import { BlobStore } from '../cache/store.js';
import { StageCache } from '../cache/stage-cache.js';
import { fetchMissing } from '../cache/fetch.js';
import { writeDirAtomically } from '../util/atomic.js';
import { hashOf, sha256, sha256File } from '../util/hash.js';
import { run } from '../util/exec.js';
import { stage, type Reporter } from './progress.js';
import { ensureArtifacts } from './artifacts.js';
import { hostToolVersions } from './host-tools.js';
import { buildCodeHash } from './code-hash.js';
import { imageIds } from './ids.js';
import { buildRootfs } from './stages/rootfs.js';
import { extractTar, scanTree, clampTimes } from './stages/tree.js';
import { overlayFor } from './stages/overlay-files.js';
import { writeOverlayTar } from './stages/overlay.js';
import { collectBootFiles } from './stages/bootfiles.js';
import { makeFat } from './stages/fat.js';
import { makeExt4 } from './stages/ext4.js';
import { assembleDisk, BLOCK } from './stages/disk.js';
import { zstdTo } from './stages/compress.js';
import { renderBmap } from './bmap.js';
import { renderSbom } from './sbom.js';
import { scanFileList, scanTreeContent } from './secret-scan.js';
import { manifestSchema, type FileEntry, type Manifest } from './manifest.js';
import { partUuid, parseDiskId } from '../disk/mbr.js';
import { buildInstaller, installerScriptsHash } from '../installer/initramfs.js';

export interface BuildOptions {
  specFile: string;
  lockFile?: string;
  outDir: string;
  cacheRoot: string;
  report: Reporter;
  /** Ignore cached stage outputs (the rootfs); blobs are still reused. */
  noStageCache?: boolean;
  kilnVersion: string;
}

export interface BuildResult {
  outDir: string;
  manifest: Manifest;
  upToDate: boolean;
}

/** Bump when the stages after the rootfs change the bytes they write. */
const RECIPE = 1;

export class LockMismatchError extends Error {
  override name = 'LockMismatchError';
}

async function loadInputs(opts: BuildOptions): Promise<{ loaded: LoadedSpec; lock: Lock; lockPath: string; lockSha: string }> {
  const loaded = await loadSpec(opts.specFile);
  const lockPath = resolve(opts.lockFile ?? lockPathFor(loaded.path));
  const lock = await readLock(lockPath);
  if (lock.packagesHash !== loaded.packagesHash) {
    throw new LockMismatchError(
      `${lockPath} was made from a different package set or mirror than ${loaded.path} now declares; run: kiln lock ${opts.specFile}`,
    );
  }
  return { loaded, lock, lockPath, lockSha: await sha256File(lockPath) };
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  // Files that mmdebstrap, its hooks and maintainer scripts create without an explicit mode take it
  // from the umask (seen: /etc/machine-id 0600 and /etc/ssh 0700 under umask 077), so every build
  // uses the same one, whatever the caller's.
  process.umask(0o022);
  const t0 = Date.now();
  const report = opts.report;
  const store = new BlobStore(opts.cacheRoot);
  const stages = new StageCache(join(opts.cacheRoot, 'stages'));
  const { loaded, lock, lockPath, lockSha } = await stage(report, 'inputs', async () => {
    const r = await loadInputs(opts);
    return { ...r, detail: `${r.loaded.spec.name}: ${r.lock.packages.length} locked packages, ${Object.keys(r.loaded.spec.artifacts).length} artifacts` };
  });
  const { spec } = loaded;
  const finalDir = resolve(opts.outDir, spec.name);
  const cachedStages: string[] = [];

  const fetched = await stage(report, 'fetch', async () => {
    // Artifacts first: a missing k3s should stop the build before minutes of .deb downloads.
    const artifacts = await ensureArtifacts(loaded, store);
    const items = [...lock.packages, ...installerDebs(loaded, lock, opts.specFile)].map((p) => ({ what: `${p.name} ${p.version}`, url: `${lock.mirror}/${p.filename}`, sha256: p.sha256, size: p.size }));
    const r = await fetchMissing(store, items, { concurrency: 4 }).catch((err: Error) => {
      if (/HTTP 404/.test(err.message)) {
        throw new Error(`${err.message}\nThe mirror no longer has a locked package (the lock saw the archive as of ${lock.releaseDate}); run: kiln lock ${opts.specFile}`);
      }
      throw err;
    });
    return { artifacts, cached: r.fetched === 0, detail: `${r.fetched} .debs downloaded (${(r.bytes / 1048576).toFixed(1)} MiB), ${artifacts.length} artifacts verified` };
  });
  if (fetched.cached) cachedStages.push('fetch');

  const tools = await hostToolVersions();
  const rootfs = await stage(report, 'rootfs', () =>
    buildRootfs({
      spec,
      lock,
      store,
      cache: stages,
      noCache: opts.noStageCache,
      onMessage: (message) => report({ event: 'progress', stage: 'rootfs', message }),
      onLine: (line) => {
        if (/^(Setting up|Processing triggers for|I: )/.test(line)) report({ event: 'progress', stage: 'rootfs', message: line });
      },
    }),
  );
  if (rootfs.cached) cachedStages.push('rootfs');

  const ids = imageIds(loaded.sha256);
  const installerScripts = spec.installer ? await installerScriptsHash() : null;
  const finalKey = hashOf({ recipe: RECIPE, kiln: opts.kilnVersion, code: await buildCodeHash(), rootfs: rootfs.key, spec: loaded.sha256, lock: lockSha, artifacts: fetched.artifacts, tools, installerScripts });
  const existing = await upToDate(finalDir, finalKey);
  if (existing && !opts.noStageCache) {
    report({ event: 'done', outDir: finalDir, sha256: existing.image.sha256, seconds: (Date.now() - t0) / 1000, cachedStages: [...cachedStages, 'image'] });
    return { outDir: finalDir, manifest: existing, upToDate: true };
  }

  await mkdir(join(opts.cacheRoot, 'work'), { recursive: true });
  const work = await mkdtemp(join(opts.cacheRoot, 'work', `${spec.name}-`));
  try {
    const manifest = await writeDirAtomically(finalDir, async (out) => {
      const tree = join(work, 'tree');
      await stage(report, 'tree', async () => {
        await mkdir(tree);
        await extractTar(rootfs.tar, tree);
        return {};
      });
      await stage(report, 'overlay', async () => {
        const ov = overlayFor(spec, ids.diskId);
        const blobs = fetched.artifacts.map((a) => ({ path: a.install, mode: Number.parseInt(spec.artifacts[a.name]!.mode, 8), source: store.blobPath(a.sha256) }));
        const tar = join(work, 'overlay.tar');
        const n = await writeOverlayTar({ ...ov, blobs, mtime: spec.sourceDateEpoch }, tar);
        await extractTar(tar, tree, { keepDirs: true });
        return { detail: `${n} entries` };
      });
      const bootDir = join(work, 'boot');
      const boot = await stage(report, 'boot', async () => {
        const files = await collectBootFiles(tree, spec, ids.diskId, bootDir);
        await makeFat({
          image: join(work, 'boot.img'),
          sizeMiB: spec.disk.bootSizeMiB,
          label: spec.disk.bootLabel,
          volumeId: ids.fatVolumeId,
          srcDir: bootDir,
          files: files.files,
          sourceDateEpoch: spec.sourceDateEpoch,
        });
        return { ...files, detail: `kernel ${files.kernelVersion}, ${files.files.length} files` };
      });
      const installer = spec.installer
        ? await stage(report, 'installer', async () => {
            const r = await buildInstaller({
              tree,
              kernelVersion: boot.kernelVersion,
              sourceDateEpoch: spec.sourceDateEpoch,
              debs: installerDebs(loaded, lock, opts.specFile).map((p) => store.blobPath(p.sha256)),
              treeKey: rootfs.key,
              cache: stages,
              noCache: opts.noStageCache,
              onMessage: (message) => report({ event: 'progress', stage: 'installer', message }),
              outDir: out,
            });
            if (r.cached) cachedStages.push('installer');
            const skipped = r.skipped.length ? `; not in this kernel: ${r.skipped.join(', ')}` : '';
            return { ...r, detail: `initramfs ${(r.initrd.size / 1048576).toFixed(1)} MiB, ${r.modules} modules${skipped}` };
          })
        : undefined;
      const rootFiles = await stage(report, 'root-fs', async () => {
        const entries = await scanTree(tree, spec.sourceDateEpoch);
        await clampTimes(tree, entries);
        await makeExt4({
          image: join(work, 'root.img'),
          sizeMiB: spec.disk.rootSizeMiB,
          label: spec.disk.rootLabel,
          uuid: ids.rootUuid,
          hashSeed: ids.rootHashSeed,
          srcDir: tree,
          sourceDateEpoch: spec.sourceDateEpoch,
          workDir: work,
          entries,
        });
        const bytes = entries.reduce((n, e) => n + e.size, 0);
        return { entries, detail: `${entries.length} entries, ${(bytes / 1048576).toFixed(0)} MiB of files` };
      });
      await stage(report, 'secret-scan', async () => {
        const publicShas = new Set(fetched.artifacts.map((a) => a.sha256));
        const bootEntries = await scanTree(bootDir, spec.sourceDateEpoch);
        const content = await scanTreeContent(tree, rootFiles.entries, publicShas);
        const bootContent = await scanTreeContent(bootDir, bootEntries, publicShas);
        const found = [...scanFileList(rootFiles.entries), ...scanFileList(bootEntries), ...content.findings, ...bootContent.findings];
        if (found.length) throw new Error(`the image would hold secrets or per-node data:\n${found.map((f) => `  ${f.where}: ${f.what}`).join('\n')}`);
        return { detail: `no keys, tokens or per-node files in ${content.scanned + bootContent.scanned} files` };
      });
      const imgName = `${spec.name}.img`;
      const zstName = `${imgName}.zst`;
      const disk = await stage(report, 'disk', async () => {
        const zstd = zstdTo(join(out, zstName));
        const r = await assembleDisk(
          join(out, imgName),
          ids.diskId,
          [
            { path: join(work, 'boot.img'), type: 0x0c, bootable: true, sizeBytes: spec.disk.bootSizeMiB * 1048576 },
            { path: join(work, 'root.img'), type: 0x83, bootable: false, sizeBytes: spec.disk.rootSizeMiB * 1048576 },
          ],
          zstd,
        );
        await zstd.end();
        return { ...r, detail: `${(r.size / 1048576).toFixed(0)} MiB, ${((r.mappedBlocks * BLOCK) / 1048576).toFixed(0)} MiB mapped, sha256 ${r.sha256.slice(0, 16)}…; zstd alongside` };
      });
      await rm(tree, { recursive: true, force: true });
      const zstSize = (await stat(join(out, zstName))).size;
      const zst = { file: zstName, size: zstSize, sha256: await sha256File(join(out, zstName)) };
      return stage(report, 'manifest', async () => {
        const bmapText = renderBmap(disk.size, BLOCK, disk.ranges);
        const bmapName = `${spec.name}.bmap`;
        await writeFile(join(out, bmapName), bmapText);
        await cp(bootDir, join(out, 'boot'), { recursive: true, preserveTimestamps: true });
        const bootEntries = await scanTree(bootDir, spec.sourceDateEpoch);
        const diskNum = parseDiskId(ids.diskId);
        const manifest: Manifest = {
          manifestVersion: 1,
          kilnVersion: opts.kilnVersion,
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
          lock: { file: relative(process.cwd(), lockPath), sha256: lockSha },
          artifacts: fetched.artifacts,
          packages: lock.packages.map((p) => ({ name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 })),
          hostTools: tools,
          stages: { rootfs: rootfs.key, final: finalKey },
          files: { boot: bootEntries.map(fatEntry), root: rootFiles.entries },
          extras: installer
            ? {
                'installer-kernel': { file: installer.kernel.file, size: installer.kernel.size, sha256: installer.kernel.sha256 },
                'installer-initrd': { file: installer.initrd.file, size: installer.initrd.size, sha256: installer.initrd.sha256 },
              }
            : {},
        };
        manifestSchema.parse(manifest);
        await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
        await writeFile(join(out, `${spec.name}.spdx.json`), renderSbom(spec, lock, disk.sha256, fetched.artifacts));
        // the image, zst and bmap hashes are known already; hashing 3 GB again would double the time
        const sums = [
          `${disk.sha256}  ${imgName}`,
          `${zst.sha256}  ${zst.file}`,
          `${sha256(bmapText)}  ${bmapName}`,
          `${await sha256File(join(out, 'manifest.json'))}  manifest.json`,
          `${await sha256File(join(out, `${spec.name}.spdx.json`))}  ${spec.name}.spdx.json`,
        ];
        await writeFile(join(out, 'SHA256SUMS'), sums.join('\n') + '\n');
        return { ...manifest, detail: `${rootFiles.entries.length} root entries, ${bootEntries.length} boot entries` };
      });
    });
    const { detail: _d, ...clean } = manifest as Manifest & { detail?: string };
    report({ event: 'done', outDir: finalDir, sha256: clean.image.sha256, seconds: (Date.now() - t0) / 1000, cachedStages });
    return { outDir: finalDir, manifest: clean, upToDate: false };
  } finally {
    await rm(work, { recursive: true, force: true });
    await rootfs.dispose();
  }
}

/** The lock's installer .debs; a spec that wants ones the lock lacks must be re-locked. */
function installerDebs(loaded: LoadedSpec, lock: Lock, specFile: string): NonNullable<Lock['installerPackages']> {
  const wanted = loaded.spec.installer?.packages ?? [];
  if (wanted.length === 0) return [];
  const have = lock.installerPackages ?? [];
  const missing = wanted.filter((n) => !have.some((p) => p.name === n));
  if (missing.length) throw new LockMismatchError(`the lock has no installer package ${missing.join(', ')}; run: kiln lock ${specFile}`);
  return have.filter((p) => wanted.includes(p.name));
}

/** FAT has no owners or modes: record what the filesystem will report for every file. */
function fatEntry(e: FileEntry): FileEntry {
  return { ...e, uid: 0, gid: 0, mode: e.type === 'dir' ? '0755' : '0644' };
}

async function upToDate(dir: string, key: string): Promise<Manifest | undefined> {
  try {
    const m = manifestSchema.parse(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
    if (m.stages.final !== key) return undefined;
    if ((await stat(join(dir, m.image.file))).size !== m.image.size) return undefined;
    await stat(join(dir, m.image.zst.file));
    return m;
  } catch {
    return undefined;
  }
}
