import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { StageCache } from '../../store/stage-cache.js';
import { dirname, join, posix } from 'node:path';
import type { Lock } from '../../lock/lockfile.js';
import type { BlobStore } from '../../store/blob-store.js';
import { run } from '../../util/exec.js';
import { DPKG_PROGRAMS, HOST_LOADER, KEEP_EMULATED, relocateInterpreter, retargetArchitecture } from './tools.js';
import { NATIVE_DEFERRED, NATIVE_DEFERRED_DIR, NATIVE_LOADER, NATIVE_MOUNT } from '../stages/rootfs-hooks.js';
import { KilnError } from '../../util/errors.js';

/** Bump when the tool root's layout changes in a way its .debs do not capture. */
const RECIPE = 2;

export interface ToolRoot {
  /** The unpacked amd64 tools, with `.path/` (what the tree's PATH finds first). */
  root: string;
  key: string;
  cached: boolean;
  programs: number;
  /** Removes a tool root made outside the cache (a cold build). */
  dispose(): Promise<void>;
}

const metaSchema = z.object({ packages: z.number().int(), programs: z.number().int() });

/**
 * The locked amd64 build tools unpacked (never installed: no scripts run) into a stage-cache entry.
 * Read-only once made: the rootfs stage binds it into the tree read-only.
 */
export async function ensureToolRoot(
  lock: Lock,
  store: BlobStore,
  cache: StageCache,
  opts: { bypass?: boolean; onMessage?: (m: string) => void } = {},
): Promise<ToolRoot> {
  const tools = lock.nativeTools;
  if (!tools)
    throw new KilnError(
      `the lock has no native build tools (made by an older kiln, or on an ${lock.architecture} host); run kiln lock again, or build with --rootfs-mode emulated`,
    );
  const entry = await cache.get({
    stage: 'native-tools',
    inputs: {
      recipe: RECIPE,
      debs: tools.packages.map((p) => p.sha256).sort(),
      keepEmulated: [...KEEP_EMULATED].sort(),
      retarget: [...DPKG_PROGRAMS],
      deferred: [...NATIVE_DEFERRED],
      loader: NATIVE_LOADER,
    },
    nouns: { debs: 'packages' },
    parseMeta: (m) => metaSchema.parse(m),
    bypass: opts.bypass,
    ...(opts.onMessage ? { onMessage: opts.onMessage } : {}),
    fill: async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      for (const p of tools.packages) {
        const deb = await store.open(p.sha256, `${p.name} ${p.version} (${p.arch})`);
        await run('dpkg-deb', ['-x', deb, root]);
      }
      await retargetDpkg(root, tools.architecture, lock.architecture);
      const programs = await makePathDir(root);
      await makeDeferredCopies(root);
      return { meta: { packages: tools.packages.length, programs } };
    },
  });
  return { root: join(entry.dir, 'root'), key: entry.key, cached: entry.cached, programs: entry.meta.programs, dispose: () => entry.dispose() };
}

/**
 * `.path/NAME` for every program in usr/bin and usr/sbin but those that must stay the image's own:
 * a link to the program's real file as the tree sees it under the mount, so a multi-call binary
 * still gets the name it was called by.
 */
async function makePathDir(root: string): Promise<number> {
  const path = join(root, '.path');
  await mkdir(path);
  let n = 0;
  for (const d of ['usr/bin', 'usr/sbin']) {
    for (const name of (await readdir(join(root, d))).sort()) {
      if (KEEP_EMULATED.has(name)) continue;
      const real = await resolveInside(root, `/${d}/${name}`);
      if (!real) continue;
      await symlink(`${NATIVE_MOUNT}${real}`, join(path, name)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e; // usr/bin wins over usr/sbin, as on PATH
      });
      n++;
    }
  }
  return n;
}

/** NATIVE_DEFERRED's relocated copies, and the loader under the name they use. */
async function makeDeferredCopies(root: string): Promise<void> {
  const loaderName = posix.basename(NATIVE_LOADER);
  await symlink(posix.basename(HOST_LOADER), join(root, 'usr/lib64', loaderName));
  for (const abs of NATIVE_DEFERRED) {
    const real = await resolveInside(root, abs);
    if (!real) continue;
    const dest = join(root, NATIVE_DEFERRED_DIR, abs);
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, relocateInterpreter(await readFile(join(root, real)), HOST_LOADER, NATIVE_LOADER), { mode: 0o755 });
  }
}

async function retargetDpkg(root: string, from: string, to: string): Promise<void> {
  let done = 0;
  for (const name of DPKG_PROGRAMS) {
    const file = join(root, 'usr/bin', name);
    const bytes = await readFile(file).catch(() => undefined);
    const patched = bytes && retargetArchitecture(bytes, from, to);
    if (!patched) continue;
    await writeFile(file, patched);
    done++;
  }
  if (done === 0 || !(await readFile(join(root, 'usr/bin/dpkg'))).includes(`${to}\0`)) {
    throw new KilnError(`the native dpkg (${from}) has no architecture name kiln can retarget to ${to}`);
  }
}

/** Follows symlinks as if `root` were `/`; undefined when the chain leaves the tool root's files. */
async function resolveInside(root: string, abs: string, depth = 0): Promise<string | undefined> {
  if (depth > 16) return undefined;
  const st = await lstat(join(root, abs)).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isSymbolicLink()) return st.isFile() ? abs : undefined;
  const target = await readlink(join(root, abs));
  return resolveInside(root, target.startsWith('/') ? target : posix.join(dirname(abs), target), depth + 1);
}
