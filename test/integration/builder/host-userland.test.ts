import { existsSync } from 'node:fs';
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

// Issue #16, host-independent bytes: the programs that write the image (tar for the tree, mke2fs and
// debugfs, mkfs.fat and mtools, zstd) are the lock's, run from their own root, so the host's
// versions of them, its config files for them and its environment do not reach the bytes. The
// shared test image is built again (warm rootfs: only the stages after it run, ~30 s) on a host
// userland made hostile to them, and must come out byte for byte the same:
// - on PATH, every e2fsprogs, dosfstools, mtools and zstd program is a wrapper that logs its call
//   and fails: running any of the host's would fail the build, and the log says which ran;
//   tar logs and passes through (dpkg-deb unpacks .debs with the host's tar), and must never be
//   the one that unpacked the rootfs or the overlay;
// - in a private mount namespace, /etc/mke2fs.conf and /etc/mtools.conf are another mke2fs
//   feature set and mtools settings that change short names and case; ~/.mtoolsrc is there too;
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

const HOSTILE_MTOOLS = 'MTOOLS_NAME_NUMERIC_TAIL=0\nMTOOLS_LOWER_CASE=1\nMTOOLS_TWENTY_FOUR_HOUR_CLOCK=0\nDEFAULT_CODEPAGE=437\nmtools_skip_check=0\n';

describe('the image on another host userland', () => {
  it("is the same bytes when the host's mke2fs, mkfs.fat, mtools, zstd and their configs are different or fail", async () => {
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
    const realTar = (await run('sh', ['-c', 'command -v tar'])).stdout.trim();
    await writeFile(join(bin, 'tar'), `#!/bin/sh\necho "tar $*" >> '${log}'\nexec '${realTar}' "$@"\n`, { mode: 0o755 });
    const conf = join(dir, 'mke2fs.conf');
    const mtools = join(dir, 'mtools.conf');
    await writeFile(conf, HOSTILE_MKE2FS_CONF);
    await writeFile(mtools, HOSTILE_MTOOLS);
    await writeFile(join(home, '.mtoolsrc'), HOSTILE_MTOOLS);
    const out = join(dir, 'out');
    // each /etc file is replaced only if the host has it (a bind needs a file to cover)
    const binds = [
      ['/etc/mke2fs.conf', conf],
      ['/etc/mtools.conf', mtools],
    ].filter(([etc]) => existsSync(etc as string));
    const script = `${binds.map(([etc, file]) => `mount --bind '${file}' '${etc}' && `).join('')}exec "$@"`;
    const r = await run(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        'sh',
        process.execPath,
        kiln,
        'build',
        testImageSpec,
        '--lock',
        t.lock,
        '--out',
        out,
        '--cache',
        defaultCacheDir(),
        '--json',
      ],
      {
        env: {
          PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
          HOME: home,
          MKE2FS_CONFIG: conf,
          MTOOLSRC: mtools,
          ZSTD_CLEVEL: '19',
          ZSTD_NBTHREADS: '1',
          E2FSPROGS_FAKE_TIME: '1',
          LD_LIBRARY_PATH: '/nonexistent',
          GCONV_PATH: '/nonexistent',
          LOCPATH: '/nonexistent',
          TZ: 'America/St_Johns',
          LC_ALL: 'C.UTF-8',
        },
        timeoutMs: 30 * 60_000,
      },
    );
    const done = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; sha256?: string; cachedStages?: string[] })
      .at(-1);
    const calls = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
    // none of the host's image-making programs ran, and the host's tar unpacked neither the rootfs nor the overlay
    expect(calls.filter((c) => !c.startsWith('tar '))).toEqual([]);
    expect(calls.filter((c) => c.includes('--xattrs'))).toEqual([]);
    expect(done?.event).toBe('done');
    // the rootfs is the shared build's (cached); every stage after it ran here
    expect(done?.cachedStages).toContain('rootfs');
    expect(done?.cachedStages).not.toContain('image');
    expect(done?.sha256).toBe(t.manifest.image.sha256);
    const m = await readManifest(join(out, TEST_IMAGE, MANIFEST_FILE));
    expect(m.image.zst.sha256).toBe(t.manifest.image.zst.sha256);
    expect(m.partitions.map((p) => p.sha256)).toEqual(t.manifest.partitions.map((p) => p.sha256));
    expect(m.imageTools).toEqual(t.manifest.imageTools);
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
