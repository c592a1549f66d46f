// Builds small (~45 MB sparse) kiln-shaped images for the diff/verify tests, the way `kiln build`
// makes them: mke2fs -d with E2FSPROGS_FAKE_TIME, mkfs.fat --invariant -i + mcopy at a fixed time,
// an MBR from src/disk/mbr.ts, and optionally the .img.zst, .bmap, manifest.json and SHA256SUMS.
import { createHash } from 'node:crypto';
import { chmod, lutimes, mkdir, mkdtemp, open, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FileEntry, Manifest } from '../../../src/manifest/schema.js';
import { MANIFEST_FILE, writeManifest } from '../../../src/manifest/write.js';
import { partUuid, serializeMbr } from '../../../src/disk/mbr.js';
import { run } from '../../../src/util/exec.js';

export interface FixtureFile {
  content?: string;
  mode?: number;
  mtime?: number;
  symlink?: string;
  dir?: boolean;
}

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
  /** A 4 MiB image (FAT12 boot, 2 MiB ext4) for tools that are slow on big inputs (diffoscope). */
  small?: boolean;
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

const SECTOR = 512;
const BOOT_START = 2048;

function geometry(spec: FixtureSpec): { bootSectors: number; rootStart: number; rootSectors: number; fatBits: string; fatType: number } {
  // 34 MiB is the smallest comfortable FAT32; the small layout uses FAT12 (type 0x01) instead.
  const bootSectors = spec.small ? 2048 : 69632;
  return {
    bootSectors,
    rootStart: BOOT_START + bootSectors,
    rootSectors: spec.small ? 4096 : 16384,
    fatBits: spec.small ? '12' : '32',
    fatType: spec.small ? 0x01 : 0x0c,
  };
}

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
      return { ...base, type: 'file' as const, mode: (f.mode ?? 0o644).toString(8).padStart(4, '0'), size: content.length, sha256: sha(content) };
    });
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function buildExt4(src: string, out: string, spec: FixtureSpec): Promise<void> {
  const env = { E2FSPROGS_FAKE_TIME: String(spec.epoch), TZ: 'UTC' };
  await run(
    'mke2fs',
    ['-q', '-F', '-t', 'ext4', '-d', src, '-U', spec.fsUuid, '-L', 'root', '-E', `hash_seed=${spec.hashSeed},root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0`, out, `${(geometry(spec).rootSectors * SECTOR) / 1024}k`],
    { env },
  );
  // mke2fs copies each source inode's ctime, which no tool can set; pin it afterwards so two
  // fixture trees written at different moments still give the same bytes.
  const stats = (await run('debugfs', ['-R', 'stats -h', out])).stdout;
  const total = Number(/Inode count:\s+(\d+)/.exec(stats)?.[1]);
  const free = Number(/Free inodes:\s+(\d+)/.exec(stats)?.[1]);
  const cmds = ['sif <2> ctime @' + spec.epoch];
  for (let i = 11; i <= total - free; i++) cmds.push(`sif <${i}> ctime @${spec.epoch}`);
  const cmdFile = `${out}.cmds`;
  await writeFile(cmdFile, cmds.join('\n') + '\n');
  await run('debugfs', ['-w', '-f', cmdFile, out], { env });
  await rm(cmdFile);
}

async function buildFat(src: string, out: string, spec: FixtureSpec): Promise<void> {
  const env = { MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', SOURCE_DATE_EPOCH: String(spec.epoch) };
  const g = geometry(spec);
  await run('mkfs.fat', ['-C', '-F', g.fatBits, '--invariant', '-i', spec.fatId, '-n', 'BOOT', out, String((g.bootSectors * SECTOR) / 1024)], { env });
  const top = (await readdir(src)).sort().map((n) => join(src, n));
  if (top.length > 0) await run('mcopy', ['-s', '-p', '-m', '-Q', '-i', out, ...top, '::/'], { env });
}

/** Copies `src` into `fh` at `offset`, skipping all-zero chunks so the image stays sparse. */
async function place(fh: Awaited<ReturnType<typeof open>>, src: string, offset: number): Promise<void> {
  const data = await readFile(src);
  const chunk = 64 * 1024;
  for (let pos = 0; pos < data.length; pos += chunk) {
    const part = data.subarray(pos, pos + chunk);
    if (part.some((b) => b !== 0)) await fh.write(part, 0, part.length, offset + pos);
  }
}

export interface BuiltFixture {
  dir: string;
  img: string;
}

// Filesystem images by their inputs, so a test file builds each distinct partition once.
const fsCache = new Map<string, Promise<string>>();
let cacheDir: Promise<string> | undefined;

function cachedFs(kind: string, key: unknown, make: (out: string) => Promise<void>): Promise<string> {
  const id = createHash('sha256').update(JSON.stringify([kind, key])).digest('hex').slice(0, 16);
  let p = fsCache.get(id);
  if (!p) {
    cacheDir ??= mkdtemp(join(tmpdir(), 'kiln-fixture-cache-'));
    p = cacheDir.then(async (dir) => {
      const out = join(dir, `${kind}-${id}`);
      await make(out);
      return out;
    });
    fsCache.set(id, p);
  }
  return p;
}

/** Removes the partition cache; call from afterAll. */
export async function cleanupFixtures(): Promise<void> {
  const dir = await cacheDir;
  cacheDir = undefined;
  fsCache.clear();
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Builds `<outDir>/<spec.name>/` (img only, or the full set of build products). */
export async function buildFixture(outDir: string, spec: FixtureSpec, opts: { products?: boolean } = {}): Promise<BuiltFixture> {
  const work = await mkdtemp(join(tmpdir(), 'kiln-fixture-'));
  try {
    const fat = await cachedFs('fat', [spec.boot, spec.fatId, spec.epoch, spec.small], async (out) => {
      await materialize(join(work, 'boot'), spec.boot, spec.epoch);
      await buildFat(join(work, 'boot'), out, spec);
    });
    const ext = await cachedFs('ext4', [spec.root, spec.fsUuid, spec.hashSeed, spec.epoch, spec.small], async (out) => {
      await materialize(join(work, 'root'), spec.root, spec.epoch);
      await buildExt4(join(work, 'root'), out, spec);
    });
    const dir = join(outDir, spec.name);
    await mkdir(dir, { recursive: true });
    const img = join(dir, `${spec.name}.img`);
    const g = geometry(spec);
    const total = (g.rootStart + g.rootSectors) * SECTOR;
    const parts = [
      { index: 1, bootable: true, type: g.fatType, startLba: BOOT_START, sectors: g.bootSectors },
      { index: 2, bootable: false, type: 0x83, startLba: g.rootStart, sectors: g.rootSectors },
    ];
    const fh = await open(img, 'w');
    try {
      await fh.truncate(total);
      await fh.write(serializeMbr({ diskId: spec.diskId, partitions: parts }), 0, SECTOR, 0);
      await place(fh, fat, BOOT_START * SECTOR);
      await place(fh, ext, g.rootStart * SECTOR);
    } finally {
      await fh.close();
    }
    if (opts.products) await writeProducts(dir, img, spec, parts);
    return { dir, img };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function fileSha(path: string): Promise<string> {
  return sha(await readFile(path));
}

async function writeProducts(
  dir: string,
  img: string,
  spec: FixtureSpec,
  parts: { index: number; bootable: boolean; type: number; startLba: number; sectors: number }[],
): Promise<void> {
  const name = spec.name;
  await run('zstd', ['-q', '-f', '-T1', '-3', img, '-o', `${img}.zst`]);
  await run('bmaptool', ['create', img, '-o', join(dir, `${name}.bmap`)]);
  const imgBytes = await readFile(img);
  const diskIdHex = spec.diskId.toString(16).padStart(8, '0');
  const manifest: Manifest = {
    manifestVersion: 1,
    kilnVersion: '0.1.0',
    name,
    sourceDateEpoch: spec.epoch,
    image: {
      file: `${name}.img`,
      size: imgBytes.length,
      sha256: sha(imgBytes),
      zst: { file: `${name}.img.zst`, size: (await readFile(`${img}.zst`)).length, sha256: await fileSha(`${img}.zst`) },
      bmap: { file: `${name}.bmap`, sha256: await fileSha(join(dir, `${name}.bmap`)), mappedBytes: 0 },
    },
    diskId: diskIdHex,
    partitions: parts.map((p) => {
      const offset = p.startLba * SECTOR;
      const size = p.sectors * SECTOR;
      const ext = p.index === 2;
      return {
        index: p.index,
        type: p.type,
        bootable: p.bootable,
        startSector: p.startLba,
        sectors: p.sectors,
        offset,
        size,
        sha256: sha(imgBytes.subarray(offset, offset + size)),
        filesystem: ext ? 'ext4' : 'vfat',
        label: ext ? 'root' : 'BOOT',
        fsId: ext ? spec.fsUuid : spec.fatId,
        ...(ext ? { hashSeed: spec.hashSeed } : {}),
        partuuid: partUuid(spec.diskId, p.index),
      };
    }),
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
    extras: {},
  };
  await writeManifest(dir, manifest);
  const names = [`${name}.img`, `${name}.img.zst`, `${name}.bmap`, MANIFEST_FILE];
  const lines = await Promise.all(names.map(async (n) => `${await fileSha(join(dir, n))}  ${n}`));
  await writeFile(join(dir, 'SHA256SUMS'), lines.join('\n') + '\n');
}
