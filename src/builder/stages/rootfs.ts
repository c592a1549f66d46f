import { mkdir, mkdtemp, readFile, writeFile, chmod, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { packageName, type ImageSpec } from '../../spec/schema.js';
import type { Lock } from '../../lock/lockfile.js';
import { z } from 'zod';
import type { BlobStore } from '../../store/blob-store.js';
import type { StageCache } from '../../store/stage-cache.js';
import type { StageInputs } from '../../store/input-diff.js';
import { run, toolVersion } from '../../util/exec.js';
import { sha256File } from '../../util/hash.js';
import { removeWorkDir } from '../../util/mounts.js';
import {
  aptOptions,
  customizeHook,
  divertedDuringBuild,
  dpkgExcludes,
  essentialHook,
  nativeAptPath,
  nativeExtractHook,
  nativeInterpretersHook,
  NATIVE_PATH,
} from './rootfs-hooks.js';
import type { ToolRoot } from '../native/tool-root.js';
import { KilnError, must } from '../../util/errors.js';

/** native: maintainer scripts run by amd64 twins of the build tools; emulated: all under qemu-user. */
export type RootfsMode = 'native' | 'emulated';

export interface RootfsResult {
  tar: string;
  key: string;
  cached: boolean;
  detail: string;
  /** Removes the tar when it was built outside the cache (noCache). */
  dispose(): Promise<void>;
}

/**
 * The CPU qemu-user emulates for what still runs emulated in native mode (python postinsts,
 * ldconfig, kmod): trixie's arm64 binaries use pointer authentication, which QEMU's default CPU
 * emulates slowly (a python start 1.45 s → 0.67 s). The A72 is the Pi 4's core; it has none. The
 * emulated mode keeps QEMU's default as the reference; the equivalence test compares the two.
 */
const NATIVE_QEMU_CPU = 'cortex-a72';

/** Bump when the way the rootfs is made changes in a way the other inputs do not capture. */
const RECIPE = 7;

/** The named inputs the rootfs is cached by (the cache key is their hash; a miss names the ones that changed). */
export async function rootfsInputs(spec: ImageSpec, lock: Lock, mode: RootfsMode, tools?: ToolRoot): Promise<StageInputs> {
  return {
    recipe: RECIPE,
    mode,
    tools: tools?.key ?? null,
    qemuCpu: mode === 'native' ? NATIVE_QEMU_CPU : null,
    debs: lock.packages.map((p) => p.sha256).sort(),
    include: [...spec.packages].sort(),
    suite: spec.debian.suite,
    sourceDateEpoch: spec.sourceDateEpoch,
    mmdebstrap: await toolVersion('mmdebstrap'),
    hooks: hookTexts(spec, lock, mode),
    aptOptions,
    dpkgExcludes,
  };
}

function hookTexts(spec: ImageSpec, lock: Lock, mode: RootfsMode): Record<string, string> {
  const diverted = divertedDuringBuild(lock.packages.map((p) => p.name));
  const dbus = lock.packages.some((p) => p.name === 'dbus');
  const native = mode === 'native';
  return {
    ...(native ? { extract: nativeExtractHook(), interpreters: nativeInterpretersHook() } : {}),
    essential: essentialHook(diverted),
    customize: customizeHook(diverted, { dbus, native, boards: spec.boards }),
  };
}

const metaSchema = z.object({ sha256: z.string(), size: z.number().int() });
type StageMeta = z.infer<typeof metaSchema>;

/**
 * The slow stage (minutes: dpkg and every maintainer script, run by the native twins or emulated):
 * mmdebstrap for arm64 from a local repository holding exactly the locked .debs, so nothing outside
 * the lock can enter the image. Cached in the stage cache by its inputs.
 */
export async function buildRootfs(opts: {
  spec: ImageSpec;
  lock: Lock;
  store: BlobStore;
  cache: StageCache;
  /** Rebuild even when a cached rootfs exists (the reproducibility check's cold build). */
  noCache?: boolean;
  mode: RootfsMode;
  /** The native tool root (native mode). */
  tools?: ToolRoot;
  onLine?: (line: string) => void;
  /** Why the rootfs is being rebuilt (a cache miss explained). */
  onMessage?: (message: string) => void;
}): Promise<RootfsResult> {
  if (opts.mode === 'native' && !opts.tools) throw new KilnError('native rootfs mode needs the native tool root');
  const entry = await opts.cache.get({
    stage: 'rootfs',
    inputs: await rootfsInputs(opts.spec, opts.lock, opts.mode, opts.tools),
    nouns: { debs: 'packages', include: 'packages' },
    bypass: opts.noCache,
    parseMeta: (m) => metaSchema.parse(m),
    onMessage: opts.onMessage,
    fill: async (dir) => {
      const meta = await makeRootfs(opts, dir);
      return { meta, files: { 'rootfs.tar': meta } };
    },
    adopt: adoptLegacyEntry,
  });
  return {
    tar: join(entry.dir, 'rootfs.tar'),
    key: entry.key,
    cached: entry.cached,
    detail: `rootfs ${entry.key.slice(0, 12)} (${mib(entry.meta.size)})`,
    dispose: () => entry.dispose(),
  };
}

/** Writes rootfs.tar (and meta.json) into `dir`. */
async function makeRootfs(
  opts: { spec: ImageSpec; lock: Lock; store: BlobStore; cache: StageCache; mode: RootfsMode; tools?: ToolRoot; onLine?: (line: string) => void },
  dir: string,
): Promise<StageMeta> {
  const work = await mkdtemp(join(opts.cache.root, 'rootfs', '.work-'));
  // The file:// mirror is bind-mounted into the chroot at its host path and the mount point is left
  // behind; under /tmp it falls to mmdebstrap's cleanup of /tmp, elsewhere its random name would
  // end up in the image (seen: /root/.cache/kiln/stages/rootfs/.work-XXXX/repo).
  const repo = await mkdtemp('/tmp/kiln-repo-');
  try {
    await makeLocalRepo(repo, opts.lock, opts.store);
    const hooks = join(work, 'hooks');
    await mkdir(hooks);
    const texts = hookTexts(opts.spec, opts.lock, opts.mode);
    for (const [name, text] of Object.entries(texts)) {
      await writeFile(join(hooks, `${name}.sh`), text);
      await chmod(join(hooks, `${name}.sh`), 0o755);
    }
    const native = opts.mode === 'native';
    const out = join(dir, 'rootfs.tar');
    // A private mount and PID namespace: every mount made for the build (mmdebstrap's own and the
    // native tool root's) is gone when it ends, however it ends; --kill-child and the parent-death
    // signal take mmdebstrap and everything it started down with kiln.
    await run(
      'setpriv',
      [
        '--pdeathsig=KILL',
        'unshare',
        '--mount',
        '--propagation=private',
        '--pid',
        '--fork',
        '--mount-proc',
        '--kill-child=SIGKILL',
        'mmdebstrap',
        '--arch=arm64',
        '--variant=apt',
        '--mode=root',
        '--format=tar',
        '--verbose',
        ...[...aptOptions, ...(native ? [nativeAptPath] : [])].map((o) => `--aptopt=${o}`),
        ...dpkgExcludes.map((d) => `--dpkgopt=${d}`),
        '--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount',
        ...(native ? [`--extract-hook=${join(hooks, 'extract.sh')}`, `--essential-hook=${join(hooks, 'interpreters.sh')}`] : []),
        `--essential-hook=${join(hooks, 'essential.sh')}`,
        `--customize-hook=${join(hooks, 'customize.sh')}`,
        // the local repository holds one version of each: a `/suite` request has nothing to choose
        `--include=${[...opts.spec.packages].map(packageName).sort().join(',')}`,
        opts.spec.debian.suite,
        out,
        `deb [trusted=yes] file://${repo} ./`,
      ],
      {
        env: {
          SOURCE_DATE_EPOCH: String(opts.spec.sourceDateEpoch),
          LC_ALL: 'C.UTF-8',
          TZ: 'UTC',
          TMPDIR: work,
          // dpkg's fsync per file costs minutes and protects nothing here: a failed build is thrown
          // away whole. In the environment, not a --dpkgopt (that would stay in the image); the
          // variable replaces dpkg's default forces, so those two are named again.
          DPKG_FORCE: 'security-mac,downgrade,unsafe-io',
          // the essential set's dpkg and the hooks' chroot calls find the native programs first (the
          // directory exists only inside the tree); apt's dpkg gets it from DPkg::Path
          ...(native
            ? {
                PATH: `${NATIVE_PATH}:/usr/sbin:/usr/bin:/sbin:/bin`,
                KILN_NATIVE_ROOT: must(opts.tools, 'the native tool root').root,
                QEMU_CPU: NATIVE_QEMU_CPU,
              }
            : {}),
        },
        // with --verbose, dpkg's own lines (Setting up …) arrive on stdout
        onStderrLine: opts.onLine,
        onStdoutLine: opts.onLine,
      },
    );
    const meta: StageMeta = { sha256: await sha256File(out), size: (await stat(out)).size };
    // meta.json is what kiln before the stage cache reads; it may share this cache directory
    await writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
    return meta;
  } finally {
    await removeWorkDir(work);
    await removeWorkDir(repo);
  }
}

/** An entry from before the stage cache (rootfs.tar + meta.json): kept if the tar still hashes right. */
async function adoptLegacyEntry(dir: string): Promise<{ meta: StageMeta; files: Record<string, StageMeta> } | undefined> {
  const meta = metaSchema.parse(JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')));
  if ((await sha256File(join(dir, 'rootfs.tar'))) !== meta.sha256) return undefined;
  return { meta, files: { 'rootfs.tar': meta } };
}

/**
 * A flat apt repository of exactly the locked .debs: pool/ holds links into the blob store (each
 * verified on the way), Packages is generated from the .debs themselves by apt-ftparchive.
 */
export async function makeLocalRepo(repo: string, lock: Lock, store: BlobStore): Promise<void> {
  await mkdir(join(repo, 'pool'), { recursive: true });
  for (const p of lock.packages) {
    await store.open(p.sha256, `${p.name} ${p.version}`);
    await store.linkTo(p.sha256, join(repo, 'pool', basename(p.filename)));
  }
  const r = await run('apt-ftparchive', ['packages', 'pool'], { cwd: repo });
  await writeFile(join(repo, 'Packages'), r.stdout);
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(0)} MiB`;
}
