import { realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/manifest/read.js';
import { MANIFEST_FILE } from '../../../src/manifest/write.js';
import { run } from '../../../src/util/exec.js';
import { defaultCacheDir } from '../../../src/util/paths.js';
import { readLock } from '../../../src/lock/lockfile.js';
import { TEST_IMAGE, testImage, testImageSpec, type TestImage } from '../../helpers/images/test-image.js';
import { tempDir } from '../../helpers/tmp.js';
import { trixieUserland } from '../../helpers/images/userland.js';

// Issue #16, host-independent bytes: the programs that write the image (tar for the tree, mke2fs and
// debugfs, mkfs.fat and mtools, zstd) are the lock's, run from their own root, so the host's
// userland does not reach the bytes. The shared test image is built again (warm rootfs: only the
// stages after it run, ~30 s) inside another host userland, and must come out byte for byte the same:
// - a Debian trixie root made by mmdebstrap (test/helpers/images/userland.ts) with its own
//   e2fsprogs, dosfstools, mtools, zstd, tar, dpkg, glibc, locale and gconv data and /etc, entered
//   with chroot in a private mount namespace; only the kernel, the node binary, mmdebstrap's script
//   (its version is a rootfs cache input), this checkout and the cache dir are the host's;
// - on its PATH, every e2fsprogs, dosfstools, mtools and zstd program is a wrapper that logs its
//   call and fails: running any of them would fail the build, and the log says which ran; tar logs
//   and passes through (dpkg-deb unpacks .debs with the userland's tar), and must never be the one
//   that unpacked the rootfs or the overlay;
// - its /etc/mke2fs.conf and /etc/mtools.conf are replaced with another mke2fs feature set and
//   mtools settings that change short names and case; ~/.mtoolsrc is there too;
// - the environment names a hostile MKE2FS_CONFIG, MTOOLSRC, ZSTD_CLEVEL, E2FSPROGS_FAKE_TIME,
//   LD_LIBRARY_PATH, GCONV_PATH and LOCPATH, another TZ and locale.
// What this does not vary: the kernel and Node (the host provides them), and the rootfs stage
// (mmdebstrap, apt and qemu-user-static are still the host's; the rootfs is cached by their version).

const kiln = resolve('bin/kiln.js');
let t: TestImage;

beforeAll(async () => {
  t = await testImage();
});

const FAILING = [
  'mke2fs',
  'mkfs.ext4',
  'debugfs',
  'e2fsck',
  'fsck.ext4',
  'mkfs.fat',
  'mkfs.vfat',
  'mkdosfs',
  'fsck.fat',
  'fsck.vfat',
  'mtools',
  'mcopy',
  'mmd',
  'mtype',
  'zstd',
  'unzstd',
  'zstdcat',
];

const HOSTILE_MKE2FS_CONF = `[defaults]
	base_features = sparse_super,filetype,dir_index
	blocksize = 1024
	inode_size = 128
	inode_ratio = 4096
[fs_types]
	ext4 = {
		features = ^has_journal,^metadata_csum,^64bit
	}
`;

/**
 * `sh -c ENTER sh ROOT SHARED... -- MKE2FS_CONF MTOOLS_CONF -- CMD...`: binds each shared host path at
 * the same path inside ROOT, the two files over ROOT's /etc/mke2fs.conf and /etc/mtools.conf, /proc
 * and /dev, then runs CMD chrooted. Run in a private mount namespace: all of it goes when CMD ends.
 */
const ENTER = `set -e
R=$1; shift
while [ "$1" != -- ]; do
  if [ -d "$1" ]; then mkdir -p "$R$1"; else mkdir -p "$(dirname "$R$1")"; [ -e "$R$1" ] || : > "$R$1"; fi
  mount --bind "$1" "$R$1"; shift
done
shift
for etc in mke2fs.conf mtools.conf; do
  [ -e "$R/etc/$etc" ] || : > "$R/etc/$etc"
  mount --bind "$1" "$R/etc/$etc"; shift
done
shift
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
exec chroot "$R" "$@"`;

const HOSTILE_MTOOLS = 'MTOOLS_NAME_NUMERIC_TAIL=0\nMTOOLS_LOWER_CASE=1\nMTOOLS_TWENTY_FOUR_HOUR_CLOCK=0\nDEFAULT_CODEPAGE=437\nmtools_skip_check=0\n';

describe('the image on another host userland', () => {
  it('is the same bytes built in a trixie root whose mke2fs, mkfs.fat, mtools, zstd fail and whose configs are hostile', async () => {
    const userland = await trixieUserland();
    const dir = tempDir('it-host-userland');
    const bin = join(dir, 'bin');
    const home = join(dir, 'home');
    await mkdir(bin);
    await mkdir(home);
    const log = join(dir, 'host-tools.log');
    await writeFile(log, '');
    for (const name of FAILING) {
      await writeFile(join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${log}'\necho "kiln ran the host's ${name}" >&2\nexit 97\n`, { mode: 0o755 });
    }
    await writeFile(join(bin, 'tar'), `#!/bin/sh\necho "tar $*" >> '${log}'\nexec /usr/bin/tar "$@"\n`, { mode: 0o755 });
    const conf = join(dir, 'mke2fs.conf');
    const mtools = join(dir, 'mtools.conf');
    await writeFile(conf, HOSTILE_MKE2FS_CONF);
    await writeFile(mtools, HOSTILE_MTOOLS);
    await writeFile(join(home, '.mtoolsrc'), HOSTILE_MTOOLS);
    const out = join(dir, 'out');
    const cache = defaultCacheDir();
    // the host paths the build needs, at the same paths inside the root
    const shared = [process.cwd(), realpathSync('node_modules'), cache, dir, process.execPath, '/usr/bin/mmdebstrap'];
    const r = await run(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        ENTER,
        'sh',
        userland,
        ...shared,
        '--',
        conf,
        mtools,
        '--',
        '/usr/bin/env',
        '-i',
        '-C',
        process.cwd(),
        `PATH=${bin}:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        `HOME=${home}`,
        `MKE2FS_CONFIG=${conf}`,
        `MTOOLSRC=${mtools}`,
        'ZSTD_CLEVEL=19',
        'ZSTD_NBTHREADS=1',
        'E2FSPROGS_FAKE_TIME=1',
        'LD_LIBRARY_PATH=/nonexistent',
        'GCONV_PATH=/nonexistent',
        'LOCPATH=/nonexistent',
        'TZ=America/St_Johns',
        'LC_ALL=C.UTF-8',
        process.execPath,
        kiln,
        'build',
        testImageSpec,
        '--lock',
        t.lock,
        '--out',
        out,
        '--cache',
        cache,
        '--json',
      ],
      { timeoutMs: 30 * 60_000 },
    );
    const done = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; sha256?: string; cachedStages?: string[] })
      .at(-1);
    const calls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    // none of the userland's image-making programs ran, and its tar unpacked neither the rootfs nor the overlay
    expect(calls.filter((c) => !c.startsWith('tar '))).toEqual([]);
    expect(calls.filter((c) => c.includes('--xattrs'))).toEqual([]);
    expect(done?.event).toBe('done');
    // the rootfs is the shared build's (cached); every stage after it ran in the trixie root
    expect(done?.cachedStages).toContain('rootfs');
    expect(done?.cachedStages).not.toContain('image');
    expect(done?.sha256).toBe(t.manifest.image.sha256);
    const m = await readManifest(join(out, TEST_IMAGE, MANIFEST_FILE));
    expect(m.image.zst.sha256).toBe(t.manifest.image.zst.sha256);
    expect(m.partitions.map((p) => p.sha256)).toEqual(t.manifest.partitions.map((p) => p.sha256));
    expect(m.imageTools).toEqual(t.manifest.imageTools);
    // it did run there: the host tools it recorded are the trixie root's
    const dpkg = (await run('chroot', [userland, 'dpkg-query', '-W', '-f', `\${Version}`, 'dpkg'])).stdout;
    expect(m.hostTools.dpkg).toBe(dpkg);
  });

  it('records which .deb made which bytes, from the lock, and no image tool among the host tools', async () => {
    const lock = await readLock(t.lock);
    const tools = t.manifest.imageTools;
    expect(tools?.architecture).toBe(lock.imageTools?.architecture);
    const fromLock = new Map((lock.imageTools?.packages ?? []).map((p) => [p.name, p]));
    const made = Object.fromEntries(Object.entries(tools?.madeBy ?? {}).map(([k, v]) => [k, v.map((p) => `${p.program} ${p.package.name}`)]));
    expect(made).toEqual({
      tree: ['tar tar'],
      root: ['mke2fs e2fsprogs', 'debugfs e2fsprogs'],
      boot: ['mkfs.fat dosfstools', 'mmd mtools', 'mcopy mtools'],
      zst: ['zstd zstd'],
    });
    for (const p of Object.values(tools?.madeBy ?? {}).flat()) {
      for (const d of [p.package, ...p.libraries]) {
        const locked = fromLock.get(d.name);
        expect(d, `${p.program}: ${d.name}`).toEqual({ name: locked?.name, version: locked?.version, arch: locked?.arch, sha256: locked?.sha256 });
      }
    }
    expect(Object.values(tools?.madeBy ?? {}).flatMap((p) => p.flatMap((x) => x.libraries.map((l) => l.name)))).toContain('libext2fs2t64');
    // the image suite's versions: the image's own e2fsprogs, dosfstools and zstd, rebuilt at most
    const image = new Map(lock.packages.map((p) => [p.name, p.version.replace(/\+b\d+$/, '')]));
    for (const name of ['e2fsprogs', 'dosfstools', 'zstd']) expect(fromLock.get(name)?.version.replace(/\+b\d+$/, '')).toBe(image.get(name));
    expect(tools?.diskTable).toMatch(/^kiln .*src\/disk\/mbr\.ts/);
    expect(Object.keys(t.manifest.hostTools).sort()).toEqual(['apt', 'apt-utils', 'dpkg', 'mmdebstrap', 'node', 'qemu-user-static', 'tar']);
  });
});
