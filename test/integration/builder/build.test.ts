import { beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { join, resolve } from 'node:path';
import { run } from '../../../src/util/exec.js';
import { sha256File } from '../../../src/util/hash.js';
import type { Manifest } from '../../../src/manifest/schema.js';
import { parseMbr } from '../../../src/disk/mbr.js';
import { scanFileList } from '../../../src/builder/secret-scan.js';
import { hostArchOf, initramfsMembers } from '../../../src/builder/guards/host-arch.js';
import { moduleName } from '../../../src/installer/modules.js';
import { boardsOf, moduleAlternatives } from '../../../src/boards/catalog.js';
import { loadSpec } from '../../../src/spec/load.js';
import { PI5_SD_AND_ETHERNET_MODULES } from '../../helpers/pi5-modules.js';
import { kernelFacts } from '../../../src/builder/kernel-facts.js';
import { readLock } from '../../../src/lock/lockfile.js';
import { BlobStore } from '../../../src/store/blob-store.js';
import { StageCache } from '../../../src/store/stage-cache.js';
import { defaultCacheDir } from '../../../src/util/paths.js';
import { must } from '../../helpers/must.js';
import { TEST_IMAGE, testImage, testImageSpec, type TestImage } from '../../helpers/images/test-image.js';
import { tempDir } from '../../helpers/tmp.js';

// A real build of images/pi-k3s-test.yaml (the product image with the k3s TEST FIXTURE in place of
// k3s) with the real tools: a fresh lock from the mirror, mmdebstrap for arm64 under qemu-user,
// the lock's own mkfs.fat, mke2fs, zstd (docs/image-tools.md; the host's read the image back here). Shared with the e2e and Ansible tests (../shared/test-image.ts) and kept
// in the cache (~/.cache/kiln); the reproducibility check always rebuilds it cold. Needs root,
// binfmt and the network to Debian's archive (scripts/setup-host.sh).

const kiln = resolve('bin/kiln.js');
let t: TestImage;
let work: string;
let m: Manifest;
let img: string;

async function partitionFile(p: Manifest['partitions'][number], dest: string): Promise<string> {
  await pipeline(createReadStream(img, { start: p.offset, end: p.offset + p.size - 1 }), createWriteStream(dest));
  return dest;
}

beforeAll(async () => {
  work = tempDir('it-build');
  t = await testImage();
  m = t.manifest;
  img = t.img;
});

describe('kiln build (real tools, the pi-k3s test image)', () => {
  it('writes every output and SHA256SUMS that checks', async () => {
    const dir = t.dir;
    for (const f of [`${TEST_IMAGE}.img`, `${TEST_IMAGE}.img.zst`, `${TEST_IMAGE}.bmap`, 'manifest.json', `${TEST_IMAGE}.spdx.json`, 'SHA256SUMS']) {
      expect((await stat(join(dir, f))).size).toBeGreaterThan(0);
    }
    await run('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir });
    expect(await sha256File(img)).toBe(m.image.sha256);
    expect((await stat(img)).size).toBe(m.image.size);
    const sbom = JSON.parse(await readFile(join(dir, `${TEST_IMAGE}.spdx.json`), 'utf8')) as { spdxVersion: string; packages: { name: string }[] };
    expect(sbom.spdxVersion).toBe('SPDX-2.3');
    expect(sbom.packages.map((p) => p.name)).toContain('linux-image-7.3.4+deb13-arm64');
  });

  it('has the partition table the manifest says', async () => {
    const fh = await open(img, 'r');
    const sector = Buffer.alloc(512);
    await fh.read(sector, 0, 512, 0);
    await fh.close();
    const mbr = parseMbr(sector);
    expect(mbr.diskId.toString(16).padStart(8, '0')).toBe(m.diskId);
    expect(mbr.partitions.map((p) => ({ index: p.index, type: p.type, start: p.startLba, sectors: p.sectors, bootable: p.bootable }))).toEqual(
      m.partitions.map((p) => ({ index: p.index, type: p.type, start: p.startSector, sectors: p.sectors, bootable: p.bootable })),
    );
    const sfdisk = JSON.parse((await run('sfdisk', ['--json', img])).stdout) as {
      partitiontable: { label: string; id: string; partitions: { start: number; type: string }[] };
    };
    expect(sfdisk.partitiontable.label).toBe('dos');
    expect(sfdisk.partitiontable.id).toBe(`0x${m.diskId}`);
    expect(sfdisk.partitiontable.partitions.map((p) => p.type)).toEqual(['c', '83']);
  });

  it('has filesystems that pass fsck.vfat -n and e2fsck -fn, with the partition hashes recorded', async () => {
    const boot = must(m.partitions[0], 'the boot partition in the manifest');
    const root = must(m.partitions[1], 'the root partition in the manifest');
    const bootImg = await partitionFile(boot, join(work, 'p1.img'));
    const rootImg = await partitionFile(root, join(work, 'p2.img'));
    expect(await sha256File(bootImg)).toBe(boot.sha256);
    expect(await sha256File(rootImg)).toBe(root.sha256);
    await run('fsck.vfat', ['-n', bootImg]);
    await run('e2fsck', ['-fn', rootImg]);
    const dumpe2fs = (await run('dumpe2fs', ['-h', rootImg])).stdout;
    expect(dumpe2fs).toMatch(new RegExp(`Filesystem UUID:\\s+${root.fsId}`));
    expect(dumpe2fs).toMatch(new RegExp(`Directory Hash Seed:\\s+${root.hashSeed}`));
    await rm(rootImg);
  });

  it("boot partition has each board's firmware, device trees and config.txt section, the kernel, initrd and the right root=", async () => {
    const bootImg = join(work, 'p1.img');
    const mtype = async (f: string): Promise<string> => (await run('mtype', ['-i', bootImg, `::/${f}`], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout;
    const listing = (await run('mdir', ['-b', '-i', bootImg, '::/'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout;
    const config = await mtype('config.txt');
    const { spec } = await loadSpec(testImageSpec);
    expect(spec.boards).toEqual(['pi4', 'pi5', 'virt']);
    for (const f of ['vmlinuz', 'initrd.img', 'config.txt', 'cmdline.txt']) expect(listing).toContain(`::/${f}`);
    for (const b of boardsOf(spec.boards)) {
      for (const f of [...b.dtbs, ...(b.firmware?.required ?? [])]) expect(listing, b.name).toContain(`::/${f}`);
      if (b.section) expect(config, b.name).toContain(`${b.section}\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n`);
    }
    // the Pi 5 (C0 and D0 steppings) by name; its firmware is in the EEPROM, and no Pi 3 firmware for a Pi 4/5 image
    for (const f of ['bcm2712-rpi-5-b.dtb', 'bcm2712-d-rpi-5-b.dtb', 'start4.elf', 'bcm2711-rpi-4-b.dtb']) expect(listing).toContain(`::/${f}`);
    expect(listing).not.toContain('::/bootcode.bin');
    const cmdline = await mtype('cmdline.txt');
    expect(cmdline).toContain(`root=PARTUUID=${m.diskId}-02`);
    expect(cmdline).toContain('cgroup_enable=memory');
    expect(cmdline).toMatch(/console=ttyS1,115200 console=ttyAMA10,115200\n$/);
    expect(await mtype('extlinux/extlinux.conf')).toContain(`root=PARTUUID=${m.diskId}-02`);
    // the boot/ copy served over TFTP is the same bytes as the partition's files
    const fromImg = (await run('mtype', ['-i', bootImg, '::/start4.elf'], { env: { MTOOLS_SKIP_CHECK: '1' }, binary: true })).stdoutBuffer;
    expect(fromImg.equals(await readFile(join(t.dir, 'boot', 'start4.elf')))).toBe(true);
  });

  it("the boot and installer initramfs carry each board's storage and network drivers, and nothing for the build host", async () => {
    const boot = (await run('mtype', ['-i', join(work, 'p1.img'), '::/initrd.img'], { env: { MTOOLS_SKIP_CHECK: '1' }, binary: true })).stdoutBuffer;
    const installer = await readFile(join(t.dir, 'installer', 'initrd.img'));
    const { spec } = await loadSpec(testImageSpec);
    // compiled into the kernel (mmc_block in 7.3): nothing to carry. The kernel's facts as the build read them.
    const cache = defaultCacheDir();
    const lock = await readLock(t.lock);
    const { builtin } = await kernelFacts(lock.packages, new BlobStore(cache), new StageCache(join(cache, 'stages')));
    for (const [name, initrd] of [
      ['boot', boot],
      ['installer', installer],
    ] as const) {
      const members = await initramfsMembers(initrd, `${name} initrd.img`);
      const modules = new Set([...builtin, ...members.filter((e) => /\.ko(\.\w+)?$/.test(e.path)).map((e) => moduleName(e.path))]);
      // the Pi 5's SD and RP1 Ethernet chain by name (none of them is a modules.dep dependency of another)
      const pi5 = PI5_SD_AND_ETHERNET_MODULES;
      expect(
        pi5.filter((n) => !modules.has(n)),
        `${name}: pi5`,
      ).toEqual([]);
      for (const b of boardsOf(spec.boards))
        for (const g of b.modules)
          expect(
            g.modules.filter((n) => !moduleAlternatives(n).some((a) => modules.has(a))),
            `${name}: ${b.name}: ${g.why}`,
          ).toEqual([]);
      for (const n of ['ext4', 'usb_storage', 'virtio_blk']) expect(modules, name).toContain(n);
      // MODULES=list: the set above and its dependencies, not every driver of the kernel (MODULES=most: ~700)
      expect(modules.size - builtin.length).toBeLessThan(120);
      expect(members.filter((e) => (e.mode & 0o170000) === 0o100000 && hostArchOf(e.data.subarray(0, 20)))).toEqual([]);
    }
  });

  it('manifest lists the root filesystem, the fixture artifact named as a fixture, and no secrets', () => {
    const byPath = new Map(m.files.root.map((e) => [e.path, e]));
    const k3s = must(m.artifacts[0], 'the k3s artifact in the manifest');
    expect(byPath.get('/usr/local/bin/k3s')).toMatchObject({ type: 'file', mode: '0755', uid: 0, sha256: k3s.sha256 });
    expect(k3s.description).toMatch(/TEST FIXTURE/);
    expect(byPath.get('/etc/machine-id')?.size).toBe(0);
    expect([...byPath.keys()].some((p) => p.startsWith('/etc/ssh/ssh_host_'))).toBe(false);
    expect([...byPath.keys()].some((p) => p.endsWith('.pyc'))).toBe(false);
    expect(byPath.get('/etc/fstab')?.sha256).toBeDefined();
    expect(scanFileList(m.files.root)).toEqual([]);
    expect(m.files.root.every((e) => e.mtime <= m.sourceDateEpoch)).toBe(true);
    expect(m.packages.length).toBeGreaterThan(50);
  });

  it('bmaptool copy with our bmap reproduces the image bytes', async () => {
    const dest = join(work, 'copy.img');
    await run('bmaptool', ['copy', '--bmap', join(t.dir, `${TEST_IMAGE}.bmap`), img, dest]);
    expect(await sha256File(dest)).toBe(m.image.sha256);
    await rm(dest);
    // and from the compressed image, as an operator would flash it
    await run('bmaptool', ['copy', '--bmap', join(t.dir, `${TEST_IMAGE}.bmap`), `${img}.zst`, dest]);
    expect(await sha256File(dest)).toBe(m.image.sha256);
    await rm(dest);
  });

  it('a no-op rebuild is up to date and changes nothing', async () => {
    const r = await run(process.execPath, [kiln, 'build', testImageSpec, '--lock', t.lock, '--out', t.imagesDir, '--json']);
    const done = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; cachedStages?: string[]; sha256?: string })
      .at(-1);
    expect(done?.cachedStages).toContain('image');
    expect(done?.sha256).toBe(m.image.sha256);
  });

  it('refuses a lock that no longer matches the spec, and leaves no partial output', async () => {
    // The same image with another package list (a list in `extends` replaces): its lock is stale.
    const other = join(work, 'other.yaml');
    await writeFile(other, `extends: ${testImageSpec}\npackages: [linux-image-7.3.4+deb13-arm64, zstd]\n`);
    const err = await run(process.execPath, [kiln, 'build', other, '--lock', t.lock, '--out', join(work, 'dist2')]).catch((e: Error) => e);
    expect(String(err)).toMatch(/different package set.*kiln lock/s);
    await expect(stat(join(work, 'dist2', TEST_IMAGE))).rejects.toThrow();
  });
  // The second build under another TZ, umask, locale and directory is equivalence.test.ts's
  // emulated build: one build that checks both the environment and the native mode.
});
