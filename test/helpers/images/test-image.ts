import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Manifest } from '../../../src/manifest/schema.js';
import { readManifest } from '../../../src/manifest/read.js';
import { MANIFEST_FILE } from '../../../src/manifest/write.js';
import { run } from '../../../src/util/exec.js';
import { defaultCacheDir } from '../../../src/util/paths.js';
import { VARIED_ENV } from '../../../src/builder/reproducible.js';
import { tmpdir } from 'node:os';

// One real build of images/pi-k3s-test.yaml (the product image with the k3s TEST FIXTURE in place
// of k3s) shared by the build test, the QEMU end-to-end test and the Ansible chroot test. The first
// test file to ask pays the cold build (~10 min here); later ones get kiln's own no-op answer in
// seconds, because the output lives in the cache dir (outside the repo) and kiln build checks it.
// It is locked afresh (once per run: a lock younger than LOCK_REUSE_MINUTES is reused by the next
// test file) so a committed lock that went stale with the mirror cannot break CI.

export const TEST_IMAGE = 'pi-k3s-test';
export const testImageSpec = resolve('images/pi-k3s-test.yaml');
const kiln = resolve('bin/kiln.js');

export interface TestImage {
  /** The images dir kiln serve takes (`<dir>/pi-k3s-test/...`). */
  imagesDir: string;
  /** `<imagesDir>/pi-k3s-test` */
  dir: string;
  lock: string;
  manifest: Manifest;
  /** The raw image file. */
  img: string;
  /** What the build printed last (`--json` events), for tests that look at stages. */
  events: { event: string; cachedStages?: string[]; sha256?: string; seconds?: number }[];
}

let built: Promise<TestImage> | undefined;
let emulated: Promise<TestImage> | undefined;

/** Builds (or finds up to date) the shared test image (native rootfs mode); once per test process. */
export function testImage(): Promise<TestImage> {
  built ??= buildTestImage('dist', []);
  return built;
}

/**
 * The same spec and lock built the reference way, every maintainer script under qemu-user, and in
 * another time zone, locale, umask and working directory (VARIED_ENV): one build that checks both
 * that the native mode changes nothing and that the environment does not reach the bytes. Its
 * rootfs is cached like the native one, so only a cold cache (CI: a fresh machine) pays its
 * ~15 minutes; `bench/build.sh` repeats the check with two cold builds.
 */
export async function emulatedTestImage(): Promise<TestImage> {
  await testImage(); // the same fresh lock
  emulated ??= buildTestImage('emulated', ['--rootfs-mode', 'emulated'], true);
  return emulated;
}

let locked: Promise<unknown> | undefined;

/** Minutes a lock made by an earlier test file of the same run stays good (each file is a process). */
const LOCK_REUSE_MINUTES = 90;

async function freshLock(lock: string): Promise<void> {
  const age = (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0)) / 60_000;
  // a lock from a kiln before the native rootfs mode or the locked image tools: make it again
  if (age < LOCK_REUSE_MINUTES && ['"nativeTools"', '"imageTools"'].every((k) => readFileSync(lock, 'utf8').includes(k))) return;
  await run(process.execPath, [kiln, 'lock', testImageSpec, '-o', lock], { timeoutMs: 10 * 60_000 });
}

async function buildTestImage(out: string, extra: string[], varied = false): Promise<TestImage> {
  const cache = defaultCacheDir();
  // not `test-image`: its lock and manifests have no imageTools, and this kiln's have a field an
  // older kiln's strict schema refuses (other checkouts share the cache dir)
  const base = join(cache, 'test-image-2');
  mkdirSync(base, { recursive: true });
  const lock = join(base, `${TEST_IMAGE}.lock.json`);
  const imagesDir = join(base, out);
  locked ??= freshLock(lock);
  await locked;
  const args = [kiln, 'build', testImageSpec, '--lock', lock, '--out', imagesDir, '--cache', cache, '--json', ...extra];
  const r = varied
    ? await run('sh', ['-c', `umask ${VARIED_ENV.umask}; exec "$@"`, 'sh', process.execPath, ...args], {
        cwd: tmpdir(),
        env: { TZ: VARIED_ENV.TZ, LC_ALL: VARIED_ENV.LC_ALL, LANG: VARIED_ENV.LANG },
        timeoutMs: 60 * 60_000,
      })
    : await run(process.execPath, args, { timeoutMs: 60 * 60_000 });
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TestImage['events'][number]);
  if (events.at(-1)?.event !== 'done') throw new Error(`kiln build ${testImageSpec} did not finish: ${r.stdout.slice(-2000)}`);
  const dir = join(imagesDir, TEST_IMAGE);
  const manifest = await readManifest(join(dir, MANIFEST_FILE));
  return { imagesDir, dir, lock, manifest, img: join(dir, manifest.image.file), events };
}

/** Loop-mounts the image's root partition read-only and gives its mount point to `use`. */
export async function withRootMounted<T>(t: TestImage, use: (root: string) => Promise<T>): Promise<T> {
  const root = t.manifest.partitions[1];
  if (!root) throw new Error(`${t.img}: the manifest has no root partition`);
  const loop = (await run('losetup', ['--find', '--show', '--read-only', `--offset=${root.offset}`, `--sizelimit=${root.size}`, t.img])).stdout.trim();
  const mnt = join(defaultCacheDir(), 'tmp', `root-${process.pid}`);
  mkdirSync(mnt, { recursive: true });
  try {
    // noload: a read-only mount must not replay (or need) the journal.
    await run('mount', ['-t', 'ext4', '-o', 'ro,noload', loop, mnt]);
    try {
      return await use(mnt);
    } finally {
      await run('umount', [mnt]);
    }
  } finally {
    await run('losetup', ['-d', loop]).catch(() => undefined);
  }
}
