// Builds small kiln-shaped images from real filesystems, the way `kiln build` makes them:
// mke2fs -d with E2FSPROGS_FAKE_TIME, mkfs.fat --invariant -i + mcopy at a fixed time, the disk laid
// out by kiln's own assembleDisk (MBR from src/disk/mbr.ts, holes, image and partition hashes, block
// map), and optionally the build products: .img.zst (zstd), .bmap (renderBmap), manifest.json
// (writeManifest) and SHA256SUMS.
import { chmod, lutimes, mkdir, mkdtemp, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { assembleDisk, BLOCK, FIRST_LBA, type DiskResult } from '../../../src/builder/stages/disk.js';
import { renderBmap } from '../../../src/disk/bmap.js';
import { formatDiskId, SECTOR_SIZE } from '../../../src/disk/mbr.js';
import type { FileEntry } from '../../../src/manifest/schema.js';
import { MANIFEST_FILE, writeManifest } from '../../../src/manifest/write.js';
import { run } from '../../../src/util/exec.js';
import { sha256, sha256File } from '../../../src/util/hash.js';
import { tempDir } from '../tmp.js';
import { imageManifest, manifestPartitions } from './image-dir.js';
import { sha256SumsText } from '../../../src/util/sha256sums.js';

export interface FixtureFile {
  content?: string | Buffer;
  mode?: number;
  mtime?: number;
  symlink?: string;
  dir?: boolean;
}

/** Partition sizes and filesystem options. */
export interface Geometry {
  bootMiB: number;
  rootMiB: number;
  /** mkfs.fat -F; mkfs.fat picks by size when absent. */
  fatBits?: 12 | 16 | 32;
  /** MBR type byte of the boot partition. */
  fatType: number;
  /** mke2fs -b; mke2fs picks by size when absent. */
  ext4BlockSize?: number;
}

/** 34 MiB is the smallest comfortable FAT32; the small layout uses FAT12 (type 0x01) instead. */
const REGULAR: Geometry = { bootMiB: 34, rootMiB: 8, fatBits: 32, fatType: 0x0c };
const SMALL: Geometry = { bootMiB: 1, rootMiB: 2, fatBits: 12, fatType: 0x01 };

export interface FixtureSpec {
  name: string;
  epoch: number;
  diskId: number;
  fsUuid: string;
  hashSeed: string;
  fatId: string;
  boot: Record<string, FixtureFile>;
  root: Record<string, FixtureFile>;
  packages: { name: string; version: string; arch: string; sha256: string }[];
  /** A 7 MiB image (FAT12 boot, 2 MiB ext4) for tools that are slow on big inputs (diffoscope). */
  small?: boolean;
  /** Any other layout (overrides `small`). */
  geometry?: Geometry;
}

export function baseSpec(): FixtureSpec {
  return {
    name: 'fixture',
    epoch: 1700000000,
    diskId: 0x4b494c4e,
    fsUuid: '11111111-2222-4333-8444-555555555555',
    hashSeed: '66666666-7777-4888-9999-aaaaaaaaaaaa',
    fatId: '1234ABCD',
    boot: {
      'config.txt': { content: 'arm_64bit=1\nenable_uart=1\nkernel=vmlinuz\n' },
      'cmdline.txt': { content: 'console=serial0,115200 root=PARTUUID=4b494c4e-02 rootwait\n' },
      overlays: { dir: true },
      'overlays/disable-bt.dtbo': { content: '\u0000\u0001dtbo-binary\u0002' },
    },
    root: {
      etc: { dir: true },
      'etc/hostname': { content: 'kiln\n' },
      'etc/motd': { content: 'line one\nline two\nline three\nline four\nline five\n' },
      usr: { dir: true },
      'usr/bin': { dir: true },
      'usr/bin/tool': { content: '\u007fELF\u0000\u0000fixture-binary\u0000', mode: 0o755 },
      'usr/bin/sh': { symlink: 'tool' },
      'etc/secret': { content: 'x\n', mode: 0o600 },
    },
    packages: [
      { name: 'base-files', version: '13.5', arch: 'arm64', sha256: 'a'.repeat(64) },
      { name: 'bash', version: '5.2.37-1', arch: 'arm64', sha256: 'b'.repeat(64) },
    ],
  };
}

function geometry(spec: FixtureSpec): Geometry {
  return spec.geometry ?? (spec.small ? SMALL : REGULAR);
}

/** Where assembleDisk puts the partitions of `spec`'s image, and the image size. */
export function fixtureLayout(spec: FixtureSpec): { size: number; boot: Extent; root: Extent } {
  const g = geometry(spec);
  const boot = extent(FIRST_LBA * SECTOR_SIZE, g.bootMiB << 20);
  const root = extent(boot.end, g.rootMiB << 20);
  return { size: root.end, boot, root };
}

export interface Extent {
  offset: number;
  size: number;
  end: number;
}

const extent = (offset: number, size: number): Extent => ({ offset, size, end: offset + size });

async function materialize(base: string, files: Record<string, FixtureFile>, epoch: number): Promise<void> {
  await mkdir(base, { recursive: true });
  const paths = Object.keys(files).sort();
  for (const p of paths) {
    const f = files[p] as FixtureFile;
    const full = join(base, p);
    await mkdir(dirname(full), { recursive: true });
    if (f.dir) await mkdir(full, { recursive: true });
    else if (f.symlink !== undefined) await symlink(f.symlink, full);
    else await writeFile(full, f.content ?? '');
    if (f.symlink === undefined) await chmod(full, f.mode ?? (f.dir ? 0o755 : 0o644));
  }
  // Clamp every time last, deepest first, right before the filesystem tools read the tree.
  for (const p of [...paths].reverse()) {
    const f = files[p] as FixtureFile;
    const t = f.mtime ?? epoch;
    if (f.symlink !== undefined) await lutimes(join(base, p), t, t);
    else await utimes(join(base, p), t, t);
  }
  await utimes(base, epoch, epoch);
}

function listing(files: Record<string, FixtureFile>, epoch: number): FileEntry[] {
  return Object.keys(files)
    .sort()
    .map((p) => {
      const f = files[p] as FixtureFile;
      const content = Buffer.from(f.content ?? '');
      const base = { path: `/${p}`, uid: 0, gid: 0, mtime: f.mtime ?? epoch };
      if (f.dir) return { ...base, type: 'dir' as const, mode: '0755', size: 0 };
      if (f.symlink !== undefined) return { ...base, type: 'symlink' as const, mode: '0777', size: f.symlink.length, target: f.symlink };
      return { ...base, type: 'file' as const, mode: (f.mode ?? 0o644).toString(8).padStart(4, '0'), size: content.length, sha256: sha256(content) };
    });
}

async function buildExt4(src: string, out: string, spec: FixtureSpec): Promise<void> {
  const env = { E2FSPROGS_FAKE_TIME: String(spec.epoch), TZ: 'UTC' };
  const g = geometry(spec);
  const block = g.ext4BlockSize ? ['-b', String(g.ext4BlockSize)] : [];
  const fixed = ['-U', spec.fsUuid, '-L', 'root', '-E', `hash_seed=${spec.hashSeed},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0`];
  await run('mke2fs', ['-q', '-F', '-t', 'ext4', ...block, '-d', src, ...fixed, out, `${g.rootMiB * 1024}k`], { env });
  // mke2fs copies each source inode's ctime, which no tool can set; pin it afterwards so two
  // fixture trees written at different moments still give the same bytes.
  const stats = (await run('debugfs', ['-R', 'stats -h', out])).stdout;
  const total = Number(/Inode count:\s+(\d+)/.exec(stats)?.[1]);
  const free = Number(/Free inodes:\s+(\d+)/.exec(stats)?.[1]);
  const cmds = [`sif <2> ctime @${spec.epoch}`];
  for (let i = 11; i <= total - free; i++) cmds.push(`sif <${i}> ctime @${spec.epoch}`);
  const cmdFile = `${out}.cmds`;
  await writeFile(cmdFile, `${cmds.join('\n')}\n`);
  await run('debugfs', ['-w', '-f', cmdFile, out], { env });
  await rm(cmdFile);
}

async function buildFat(src: string, out: string, spec: FixtureSpec): Promise<void> {
  const env = { MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', SOURCE_DATE_EPOCH: String(spec.epoch) };
  const g = geometry(spec);
  const bits = g.fatBits ? ['-F', String(g.fatBits)] : [];
  await run('mkfs.fat', ['-C', ...bits, '--invariant', '-i', spec.fatId, '-n', 'BOOT', out, String(g.bootMiB * 1024)], { env });
  const top = (await readdir(src)).sort().map((n) => join(src, n));
  if (top.length > 0) await run('mcopy', ['-s', '-p', '-m', '-Q', '-i', out, ...top, '::/'], { env });
}

export interface BuiltFixture {
  dir: string;
  img: string;
  /** What assembleDisk reported: size, hashes, partitions, block map ranges. */
  disk: DiskResult;
  /** The image's block map (renderBmap), written beside it with `products`. */
  bmap: string;
}

// Filesystem images by their inputs, so a test file builds each distinct partition once.
const fsCache = new Map<string, Promise<string>>();
let cacheDir: string | undefined;

/** A tree's files with the hash of any binary content in place of the bytes, for the cache key. */
function treeKey(files: Record<string, FixtureFile>): Record<string, FixtureFile | { sha256: string }> {
  return Object.fromEntries(
    Object.entries(files).map(([p, f]) => [p, Buffer.isBuffer(f.content) ? { ...f, content: undefined, sha256: sha256(f.content) } : f]),
  );
}

function cachedFs(kind: string, key: unknown, make: (out: string) => Promise<void>): Promise<string> {
  const id = sha256(JSON.stringify([kind, key])).slice(0, 16);
  let p = fsCache.get(id);
  if (!p) {
    cacheDir ??= tempDir('fixture-cache', 'file');
    const out = join(cacheDir, `${kind}-${id}`);
    p = make(out).then(() => out);
    fsCache.set(id, p);
  }
  return p;
}

/** Builds `<outDir>/<spec.name>/` (img only, or the full set of build products). */
export async function buildFixture(outDir: string, spec: FixtureSpec, opts: { products?: boolean } = {}): Promise<BuiltFixture> {
  const work = await mkdtemp(join(tmpdir(), 'kiln-fixture-'));
  try {
    const g = geometry(spec);
    const fat = await cachedFs('fat', [treeKey(spec.boot), spec.fatId, spec.epoch, g], async (out) => {
      await materialize(join(work, 'boot'), spec.boot, spec.epoch);
      await buildFat(join(work, 'boot'), out, spec);
    });
    const ext = await cachedFs('ext4', [treeKey(spec.root), spec.fsUuid, spec.hashSeed, spec.epoch, g], async (out) => {
      await materialize(join(work, 'root'), spec.root, spec.epoch);
      await buildExt4(join(work, 'root'), out, spec);
    });
    const dir = join(outDir, spec.name);
    await mkdir(dir, { recursive: true });
    const img = join(dir, `${spec.name}.img`);
    const disk = await assembleDisk(img, formatDiskId(spec.diskId), [
      { path: fat, type: g.fatType, bootable: true, sizeBytes: g.bootMiB << 20 },
      { path: ext, type: 0x83, bootable: false, sizeBytes: g.rootMiB << 20 },
    ]);
    if (disk.size !== fixtureLayout(spec).size) throw new Error(`fixtureLayout is out of step with assembleDisk: ${disk.size} bytes`);
    const built = { dir, img, disk, bmap: renderBmap(disk.size, BLOCK, disk.ranges) };
    if (opts.products) await writeProducts(built, spec);
    return built;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function writeProducts(built: BuiltFixture, spec: FixtureSpec): Promise<void> {
  const { dir, img, disk, bmap } = built;
  const name = spec.name;
  await run('zstd', ['-q', '-f', '-T1', '-3', img, '-o', `${img}.zst`]);
  await writeFile(join(dir, `${name}.bmap`), bmap);
  const diskId = formatDiskId(spec.diskId);
  const manifest = imageManifest(
    {
      name,
      epoch: spec.epoch,
      img: disk,
      zst: { size: (await stat(`${img}.zst`)).size, sha256: await sha256File(`${img}.zst`) },
      bmap: { text: bmap, mappedBytes: disk.mappedBlocks * BLOCK },
      diskId,
      partitions: manifestPartitions(diskId, disk.partitions, [
        { filesystem: 'vfat', label: 'BOOT', fsId: spec.fatId },
        { filesystem: 'ext4', label: 'root', fsId: spec.fsUuid, hashSeed: spec.hashSeed },
      ]),
    },
    {
      spec: { file: `images/${name}.yaml`, sha256: 'c'.repeat(64), packagesHash: 'd'.repeat(64) },
      lock: { file: `images/${name}.lock.json`, sha256: 'e'.repeat(64) },
      artifacts: [
        {
          name: 'fixture-artifact',
          description: 'test fixture standing in for a pinned artifact (not k3s)',
          version: '0.0.1',
          url: 'file:///dev/null',
          sha256: 'f'.repeat(64),
          size: 1,
          install: '/usr/local/bin/fixture',
        },
      ],
      packages: spec.packages,
      hostTools: { mke2fs: 'mke2fs 1.47.0', 'mkfs.fat': 'mkfs.fat 4.2' },
      stages: { rootfs: '1'.repeat(64) },
      files: { boot: listing(spec.boot, spec.epoch), root: listing(spec.root, spec.epoch) },
    },
  );
  await writeManifest(dir, manifest);
  // SHA256SUMS through the writer the build's manifest step uses
  const names = [`${name}.img`, `${name}.img.zst`, `${name}.bmap`, MANIFEST_FILE];
  const entries = await Promise.all(names.map(async (file) => ({ sha256: await sha256File(join(dir, file)), file })));
  await writeFile(join(dir, 'SHA256SUMS'), sha256SumsText(entries));
}
