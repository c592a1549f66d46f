import { lstat, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix, relative } from 'node:path';
import { z } from 'zod';
import type { Lock, LockedPackage } from '../../lock/lockfile.js';
import type { BlobStore } from '../../store/blob-store.js';
import type { StageCache } from '../../store/stage-cache.js';
import { KilnError } from '../../util/errors.js';
import { run, type RunOptions, type RunResult } from '../../util/exec.js';
import { glibcLayout, IMAGE_PRODUCTS, IMAGE_TOOL_PROGRAMS, type ImageToolProgram } from './tools.js';

// The programs that write the image's bytes after the rootfs, run from the lock's own .debs: the
// host's mke2fs, mkfs.fat, mtools, zstd and tar are never run, and nothing of the host's userland
// (its config files, locale data, library cache, environment) reaches them.

/** Bump when the image tool root's layout or the patches below change. */
const RECIPE = 2;

/**
 * mtools reads these system-wide configuration files (compiled in) before anything else; a
 * `DEFAULT_CODEPAGE`, `MTOOLS_NAME_NUMERIC_TAIL` or `mtools_lower_case` in the host's copy would
 * change the FAT bytes. Each path's first byte is set to NUL, so mtools opens "" and reads none.
 * (Only the first byte: the linker may share a path's tail with another string.)
 */
export const MTOOLS_CONFIG_PATHS: readonly string[] = [
  '/etc/mtools.conf',
  '/etc/mtools',
  '/etc/default/mtools.conf',
  '/etc/default/mtools',
  '/usr/local/etc/mtools.conf',
];

/** Blanks every compiled-in config path; undefined when the program names none of them. */
export function blankConfigPaths(program: Buffer, paths: readonly string[]): Buffer | undefined {
  const out = Buffer.from(program);
  let n = 0;
  for (const p of paths) {
    const needle = Buffer.from(`${p}\0`, 'latin1');
    for (let at = out.indexOf(needle); at >= 0; at = out.indexOf(needle, at + 1)) {
      // a NUL (or the start) before it: the whole string, not the tail of a longer one
      if (at > 0 && out[at - 1] !== 0) continue;
      out[at] = 0;
      n++;
    }
  }
  return n ? out : undefined;
}

const programSchema = z.strictObject({
  /** The program's real file inside the root (a multi-call binary for mtools' names). */
  path: z.string(),
  /** The package that provides it, then those of the libraries it loads, sorted (libc6's loader too). */
  package: z.string(),
  libraries: z.array(z.string()),
});
const metaSchema = z.strictObject({
  architecture: z.string(),
  loader: z.string(),
  libraryPath: z.array(z.string()),
  programs: z.record(z.string(), programSchema),
});
type Meta = z.infer<typeof metaSchema>;

export type PackageRef = Pick<LockedPackage, 'name' | 'version' | 'arch' | 'sha256'>;

/** One program as the manifest records it: which .deb it came from, and which .debs its libraries. */
export interface ProgramProvenance {
  program: string;
  package: PackageRef;
  libraries: PackageRef[];
}

export interface ImageTools {
  root: string;
  key: string;
  cached: boolean;
  architecture: string;
  /** The loader, its arguments and the program: what to execute instead of `program args`. */
  command(program: ImageToolProgram, args: readonly string[]): { file: string; args: string[] };
  /** The whole environment the program gets (nothing of kiln's own): `extra` on top of the fixed part. */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Runs a program from the tool root; a failure names the program and its arguments, not the loader. */
  run(
    program: ImageToolProgram,
    args: readonly string[],
    opts?: Omit<RunOptions, 'env' | 'cleanEnv' | 'display'> & { env?: Record<string, string> },
  ): Promise<RunResult>;
  /** What made which bytes, for the manifest. */
  madeBy(): Record<keyof typeof IMAGE_PRODUCTS, ProgramProvenance[]>;
  dispose(): Promise<void>;
}

/**
 * The lock's image tools unpacked (never installed: no scripts run) into a stage-cache entry, each
 * program's libraries checked to resolve inside it. Read-only once made.
 */
export async function ensureImageTools(
  lock: Lock,
  store: BlobStore,
  cache: StageCache,
  opts: { bypass?: boolean; onMessage?: (m: string) => void } = {},
): Promise<ImageTools> {
  const tools = lock.imageTools;
  if (!tools) {
    throw new KilnError(
      'the lock names no image tools (made by an older kiln): the programs that make the image (e2fsprogs, dosfstools, mtools, zstd, tar) are locked too now; run kiln lock again',
    );
  }
  await refuseHostPreload();
  const entry = await cache.get({
    stage: 'image-tools',
    inputs: {
      recipe: RECIPE,
      architecture: tools.architecture,
      debs: tools.packages.map((p) => p.sha256).sort(),
      programs: IMAGE_TOOL_PROGRAMS,
      mtoolsConfig: [...MTOOLS_CONFIG_PATHS],
    },
    nouns: { debs: 'packages' },
    parseMeta: (m) => metaSchema.parse(m),
    bypass: opts.bypass,
    ...(opts.onMessage ? { onMessage: opts.onMessage } : {}),
    fill: async (dir) => ({ meta: await fillRoot(join(dir, 'root'), tools.architecture, tools.packages, store) }),
  });
  const root = join(entry.dir, 'root');
  const meta = entry.meta;
  const byName = new Map(tools.packages.map((p) => [p.name, p]));
  const ref = (name: string): PackageRef => {
    const p = byName.get(name);
    if (!p) throw new KilnError(`the image tool root names ${name}, which the lock's image tools do not have`);
    return { name: p.name, version: p.version, arch: p.arch, sha256: p.sha256 };
  };
  const programOf = (program: ImageToolProgram) => {
    const p = meta.programs[program];
    if (!p) throw new KilnError(`the image tool root has no ${program}`);
    return p;
  };
  const command = (program: ImageToolProgram, args: readonly string[]) => ({
    file: join(root, meta.loader),
    args: [
      '--inhibit-cache',
      '--library-path',
      meta.libraryPath.map((d) => join(root, d)).join(':'),
      '--argv0',
      program,
      join(root, programOf(program).path),
      ...args,
    ],
  });
  const env = (extra: Record<string, string> = {}) => ({
    LC_ALL: 'C',
    // a POSIX TZ string: no zoneinfo file of the host's is read
    TZ: 'UTC0',
    // no ~/.mtoolsrc or other per-user file of the host's
    HOME: '/nonexistent',
    // glibc's character set converters (mtools' code pages) from the tool root's libc6, searched
    // before the host's; and no locale data of the host's (mtools tries setlocale "en_US" under C)
    GCONV_PATH: join(root, meta.libraryPath[0] ?? '', 'gconv'),
    LOCPATH: join(root, 'usr/lib/locale'),
    ...extra,
  });
  return {
    root,
    key: entry.key,
    cached: entry.cached,
    architecture: meta.architecture,
    command,
    env,
    run(program, args, o = {}) {
      const c = command(program, args);
      return run(c.file, c.args, { ...o, env: env(o.env), cleanEnv: true, display: { tool: program, args } });
    },
    madeBy() {
      const out = {} as Record<keyof typeof IMAGE_PRODUCTS, ProgramProvenance[]>;
      for (const [product, programs] of Object.entries(IMAGE_PRODUCTS) as [keyof typeof IMAGE_PRODUCTS, readonly ImageToolProgram[]][]) {
        out[product] = programs.map((program) => {
          const p = programOf(program);
          return { program, package: ref(p.package), libraries: p.libraries.map(ref) };
        });
      }
      return out;
    },
    dispose: () => entry.dispose(),
  };
}

/** The loader reads /etc/ld.so.preload whatever it is told: a host that preloads would reach the tools. */
async function refuseHostPreload(): Promise<void> {
  const text = await readFile('/etc/ld.so.preload', 'utf8').catch(() => '');
  if (text.trim()) {
    throw new KilnError(
      `/etc/ld.so.preload names ${text.trim().split(/\s+/).join(', ')}: the loader would put it into every image tool, so the host could change the image bytes`,
    );
  }
}

async function fillRoot(root: string, architecture: string, packages: readonly LockedPackage[], store: BlobStore): Promise<Meta> {
  await mkdir(root);
  const owner = new Map<string, string>();
  for (const p of packages) {
    const deb = await store.open(p.sha256, `${p.name} ${p.version} (${p.arch})`);
    await run('dpkg-deb', ['-x', deb, root]);
    for (const path of debPaths((await run('dpkg-deb', ['-c', deb])).stdout)) owner.set(path, p.name);
  }
  const layout = glibcLayout(architecture);
  // resolved inside the root: an absolute link must not lead to the host's loader
  const loader = await firstInside(root, layout.loaders);
  if (!loader) throw new KilnError(`the image tools have no ${architecture} loader (looked for ${layout.loaders.join(', ')})`);
  const libraryPath = layout.libDirs.filter((d) => owner.has(d) || [...owner.keys()].some((k) => k.startsWith(`${d}/`)));
  const ownerOf = async (abs: string): Promise<string> => {
    const real = await resolveInside(root, abs);
    const name = real && owner.get(real);
    if (!name) throw new KilnError(`${abs} in the image tool root belongs to no locked package`);
    return name;
  };
  const loaderPackage = await ownerOf(loader);
  const programs: Meta['programs'] = {};
  const patched = new Set<string>();
  for (const [program, pkg] of Object.entries(IMAGE_TOOL_PROGRAMS)) {
    const real = await firstInside(
      root,
      ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => `${d}/${program}`),
    );
    if (!real) throw new KilnError(`the image tools (${pkg}) have no ${program}`);
    const from = owner.get(real);
    if (from !== pkg) throw new KilnError(`${program} in the image tools comes from ${from ?? 'no package'}, not ${pkg}`);
    if (pkg === 'mtools' && !patched.has(real)) {
      const bytes = blankConfigPaths(await readFile(join(root, real)), MTOOLS_CONFIG_PATHS);
      if (!bytes) throw new KilnError(`${real} names none of ${MTOOLS_CONFIG_PATHS.join(', ')}: kiln cannot keep the host's mtools.conf from it`);
      await writeFile(join(root, real), bytes, { mode: (await stat(join(root, real))).mode & 0o7777 });
      patched.add(real);
    }
    const libraries = new Set([loaderPackage]);
    const list = await run(
      join(root, loader),
      ['--inhibit-cache', '--library-path', libraryPath.map((d) => join(root, d)).join(':'), '--list', join(root, real)],
      {
        env: { LC_ALL: 'C' },
        cleanEnv: true,
      },
    );
    for (const line of list.stdout.split('\n')) {
      const m = /=>\s+(\S+)\s+\(0x/.exec(line);
      if (!m?.[1]) {
        if (/=>\s+not found/.test(line)) throw new KilnError(`${program} (image tools): ${line.trim()}`);
        continue;
      }
      const rel = relative(root, m[1]);
      if (rel.startsWith('..')) throw new KilnError(`${program} (image tools) would load ${m[1]} from the host, not from its own root`);
      libraries.add(await ownerOf(`/${rel}`));
    }
    libraries.delete(pkg);
    programs[program] = { path: real, package: pkg, libraries: [...libraries].sort() };
  }
  return { architecture, loader, libraryPath, programs };
}

/** The paths a `dpkg-deb -c` listing names, as absolute paths (`./usr/sbin/x` → `/usr/sbin/x`). */
export function debPaths(listing: string): string[] {
  const out: string[] = [];
  for (const line of listing.split('\n')) {
    const m = /^\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+\.(\/.*?)(?: -> .*| link to .*)?$/.exec(line);
    const p = m?.[1]?.replace(/\/$/, '');
    if (p) out.push(p);
  }
  return out;
}

/** The real file (links followed inside the root) of the first of `paths` that has one. */
async function firstInside(root: string, paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) {
    const real = await resolveInside(root, p);
    if (real) return real;
  }
  return undefined;
}

/** Follows symlinks as if `root` were `/`; the real file's absolute path, or undefined. */
async function resolveInside(root: string, abs: string, depth = 0): Promise<string | undefined> {
  if (depth > 16) return undefined;
  // the directories on the way may be links too (lib64 → usr/lib64)
  const parts = abs.split('/').filter(Boolean);
  let at = '';
  for (let i = 0; i < parts.length; i++) {
    const next = `${at}/${parts[i]}`;
    const st = await lstat(join(root, next)).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      const target = await readlink(join(root, next));
      const rest = parts.slice(i + 1).join('/');
      const joined = target.startsWith('/') ? target : posix.join(dirname(next), target);
      return resolveInside(root, rest ? `${posix.normalize(joined)}/${rest}` : posix.normalize(joined), depth + 1);
    }
    at = next;
  }
  return at || undefined;
}
