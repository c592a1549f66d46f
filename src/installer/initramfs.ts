import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { run } from '../util/exec.js';
import { hashOf, sha256, sha256File } from '../util/hash.js';
import type { StageCache } from '../store/stage-cache.js';
import { writeCpio, type CpioEntry } from './cpio.js';
import { installerModules, parseModulesBuiltin, parseModulesDep, plainModulePath, planModules } from './modules.js';
import { KilnError } from '../util/errors.js';
import type { BoardName } from '../boards/catalog.js';

// Builds the installer's kernel + initramfs from the image's own tree (kernel and modules) and the
// locked busybox-static .deb, natively: dpkg-deb -x, xz -d and our cpio writer; no emulation.
// Cached in the stage cache (<cache>/stages/installer/<key>) like the rootfs.

/** Bump when the initramfs layout changes in a way the other inputs do not capture. */
const RECIPE = 1;

export interface InstallerInput {
  /** The extracted image tree (with /usr/lib/modules/<kver>/ and /boot/vmlinuz-<kver>). */
  tree: string;
  kernelVersion: string;
  /** The boards the image targets: the installer carries their network and disk drivers. */
  boards: readonly BoardName[];
  sourceDateEpoch: number;
  /** Paths of the locked installer .debs (busybox-static). */
  debs: string[];
  /** Identifies the tree's content (the rootfs stage key): the cache key is derived from it. */
  treeKey: string;
  cache: StageCache;
  /** Build it afresh and keep nothing (the reproducibility check's cold build). */
  noCache?: boolean;
  /** Why the initramfs is being rebuilt (a cache miss explained). */
  onMessage?: (message: string) => void;
  /** Directory to write `installer/vmlinuz` and `installer/initrd.img` into. */
  outDir: string;
}

export interface InstallerFile {
  file: string;
  size: number;
  sha256: string;
}

export interface InstallerResult {
  kernel: InstallerFile;
  initrd: InstallerFile;
  key: string;
  cached: boolean;
  modules: number;
  skipped: string[];
}

const metaSchema = z.strictObject({
  kernel: z.strictObject({ size: z.number().int(), sha256: z.string() }),
  initrd: z.strictObject({ size: z.number().int(), sha256: z.string() }),
  modules: z.number().int(),
  skipped: z.array(z.string()),
});
type InstallerMeta = z.infer<typeof metaSchema>;

/** The on-node scripts ship beside this module in src/installer/ (also when run from dist-js/). */
export function scriptPath(name: 'init.sh' | 'udhcpc.script'): string {
  return fileURLToPath(new URL(`../../src/installer/${name}`, import.meta.url));
}

export async function installerScriptsHash(): Promise<string> {
  return hashOf({ init: await readFile(scriptPath('init.sh'), 'utf8'), udhcpc: await readFile(scriptPath('udhcpc.script'), 'utf8') });
}

const ARM64_MAGIC = 0x644d5241; // "ARM\x64" at offset 0x38 of an arm64 Image

/** U-Boot's booti and the Pi firmware both take an uncompressed Image; refuse anything else. */
export function checkArm64Image(head: Buffer): void {
  if (head.length < 0x40 || head.readUInt32LE(0x38) !== ARM64_MAGIC) {
    const gz = head[0] === 0x1f && head[1] === 0x8b;
    throw new KilnError(
      gz
        ? 'the image kernel is gzip-compressed; the installer needs an uncompressed arm64 Image (U-Boot booti without kernel_comp_addr_r)'
        : 'the image kernel is not an arm64 Image (no ARM\\x64 magic at 0x38)',
    );
  }
}

export async function buildInstaller(input: InstallerInput): Promise<InstallerResult> {
  const dest = join(input.outDir, 'installer');
  await mkdir(dest, { recursive: true });
  const entry = await input.cache.get({
    stage: 'installer',
    inputs: {
      recipe: RECIPE,
      tree: input.treeKey,
      kernelVersion: input.kernelVersion,
      sourceDateEpoch: input.sourceDateEpoch,
      debs: await Promise.all(input.debs.map((d) => sha256File(d))),
      scripts: await installerScriptsHash(),
      modules: installerModules(input.boards),
    },
    bypass: input.noCache,
    parseMeta: (m) => metaSchema.parse(m),
    onMessage: input.onMessage,
    fill: (dir) => makeInstaller(input, dir),
    adopt: adoptLegacyEntry,
  });
  // the cache vouches for its files (hashed when stored, stamped since): a plain copy suffices
  await copyFile(join(entry.dir, 'vmlinuz'), join(dest, 'vmlinuz'));
  await copyFile(join(entry.dir, 'initrd.img'), join(dest, 'initrd.img'));
  await entry.dispose();
  return result(entry.meta, entry.key, entry.cached);
}

/** Writes vmlinuz, initrd.img and meta.json into `dir`. */
async function makeInstaller(input: InstallerInput, dir: string): Promise<{ meta: InstallerMeta; files: Record<string, { size: number; sha256: string }> }> {
  const work = await mkdtemp(join(input.cache.root, 'installer', '.work-'));
  try {
    const kernelSrc = join(input.tree, 'boot', `vmlinuz-${input.kernelVersion}`);
    const kernel = await readFile(kernelSrc);
    checkArm64Image(kernel);
    const entries = await initramfsEntries(input, work);
    const cpio = writeCpio(entries.entries, input.sourceDateEpoch);
    // -n: no name or timestamp in the gzip header, so the bytes depend only on the archive.
    const gz = (await run('gzip', ['-n', '-9', '-c'], { input: cpio, binary: true })).stdoutBuffer;
    await writeFile(join(dir, 'vmlinuz'), kernel);
    await writeFile(join(dir, 'initrd.img'), gz);
    const meta: InstallerMeta = {
      kernel: { size: kernel.length, sha256: sha256(kernel) },
      initrd: { size: gz.length, sha256: sha256(gz) },
      modules: entries.modules,
      skipped: entries.skipped,
    };
    // meta.json is what kiln before the stage cache reads; it may share this cache directory
    await writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
    return { meta, files: { vmlinuz: meta.kernel, 'initrd.img': meta.initrd } };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function result(meta: InstallerMeta, key: string, cached: boolean): InstallerResult {
  return {
    kernel: { file: 'installer/vmlinuz', ...meta.kernel },
    initrd: { file: 'installer/initrd.img', ...meta.initrd },
    key,
    cached,
    modules: meta.modules,
    skipped: meta.skipped,
  };
}

/** An entry from before the stage cache (meta.json + files): kept if its files still hash right. */
async function adoptLegacyEntry(dir: string): Promise<{ meta: InstallerMeta; files: Record<string, { size: number; sha256: string }> } | undefined> {
  const meta = metaSchema.parse(JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')));
  if ((await sha256File(join(dir, 'vmlinuz'))) !== meta.kernel.sha256) return undefined;
  if ((await sha256File(join(dir, 'initrd.img'))) !== meta.initrd.sha256) return undefined;
  return { meta, files: { vmlinuz: meta.kernel, 'initrd.img': meta.initrd } };
}

async function initramfsEntries(input: InstallerInput, work: string): Promise<{ entries: CpioEntry[]; modules: number; skipped: string[] }> {
  const entries: CpioEntry[] = [];
  for (const d of ['dev', 'proc', 'sys', 'run', 'tmp', 'mnt', 'etc', 'sbin', 'usr/bin', 'usr/sbin']) entries.push({ path: d, type: 'dir', mode: 0o755 });

  // busybox from the locked .deb, unpacked natively
  const bbRoot = join(work, 'debs');
  await mkdir(bbRoot);
  for (const deb of input.debs) await run('dpkg-deb', ['-x', deb, bbRoot]);
  const busybox = await findBusybox(bbRoot);
  entries.push({ path: 'bin/busybox', type: 'file', mode: 0o755, data: await readFile(busybox) });
  entries.push({ path: 'bin/sh', type: 'symlink', target: 'busybox' });
  entries.push({ path: 'init', type: 'file', mode: 0o755, data: await readFile(scriptPath('init.sh')) });
  entries.push({ path: 'etc/kiln/udhcpc.script', type: 'file', mode: 0o755, data: await readFile(scriptPath('udhcpc.script')) });

  // the image's own kernel modules, decompressed, with their load order
  const modRoot = join(input.tree, 'usr', 'lib', 'modules', input.kernelVersion);
  const dep = parseModulesDep(await readFile(join(modRoot, 'modules.dep'), 'utf8'));
  const builtin = parseModulesBuiltin(await readFile(join(modRoot, 'modules.builtin'), 'utf8').catch(() => ''));
  const plan = planModules(dep, installerModules(input.boards), builtin);
  for (const rel of plan.order) {
    entries.push({
      path: `lib/modules/${input.kernelVersion}/${plainModulePath(rel)}`,
      type: 'file',
      mode: 0o644,
      data: await plainModule(join(modRoot, rel)),
    });
  }
  const order = `${plan.order.map(plainModulePath).join('\n')}\n`;
  entries.push({ path: `lib/modules/${input.kernelVersion}/kiln-load-order`, type: 'file', mode: 0o644, data: Buffer.from(order) });
  return { entries, modules: plan.order.length, skipped: plan.skipped };
}

async function plainModule(path: string): Promise<Buffer> {
  if (path.endsWith('.xz')) return (await run('xz', ['-dc', path], { binary: true })).stdoutBuffer;
  if (path.endsWith('.zst')) return (await run('zstd', ['-dcq', path], { binary: true })).stdoutBuffer;
  if (path.endsWith('.gz')) return (await run('gzip', ['-dc', path], { binary: true })).stdoutBuffer;
  return readFile(path);
}

async function findBusybox(root: string): Promise<string> {
  for (const p of ['bin/busybox', 'usr/bin/busybox']) {
    const full = join(root, p);
    if ((await stat(full).catch(() => undefined))?.isFile()) return full;
  }
  const listing = await readdir(root, { recursive: true });
  throw new KilnError(`the installer .debs hold no busybox binary (found: ${listing.slice(0, 10).join(', ')})`);
}
