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
import { must } from '../../helpers/must.js';
import { TEST_IMAGE, testImage, testImageSpec, type TestImage } from '../../helpers/images/test-image.js';
import { tempDir } from '../../helpers/tmp.js';

// A real build of images/pi-k3s-test.yaml (the product image with the k3s TEST FIXTURE in place of
// k3s) with the real tools: a fresh lock from the mirror, mmdebstrap for arm64 under qemu-user,
// mkfs.fat, mke2fs, zstd. Shared with the e2e and Ansible tests (../shared/test-image.ts) and kept
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
    expect(sbom.packages.map((p) => p.name)).toContain('linux-image-arm64');
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

  it('boot partition has the Pi firmware, kernel, initrd, Pi 4 device tree and the right root=', async () => {
    const bootImg = join(work, 'p1.img');
    const listing = (await run('mdir', ['-b', '-i', bootImg, '::/'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout;
    for (const f of ['start4.elf', 'fixup4.dat', 'bootcode.bin', 'vmlinuz', 'initrd.img', 'bcm2711-rpi-4-b.dtb', 'config.txt', 'cmdline.txt']) {
      expect(listing).toContain(`::/${f}`);
    }
    const cmdline = (await run('mtype', ['-i', bootImg, '::/cmdline.txt'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout;
    expect(cmdline).toContain(`root=PARTUUID=${m.diskId}-02`);
    expect(cmdline).toContain('cgroup_enable=memory');
    const config = (await run('mtype', ['-i', bootImg, '::/config.txt'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout;
    expect(config).toMatch(/^kernel=vmlinuz$/m);
    const extlinux = (await run('mtype', ['-i', bootImg, '::/extlinux/extlinux.conf'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout;
    expect(extlinux).toContain(`root=PARTUUID=${m.diskId}-02`);
    // the boot/ copy served over TFTP is the same bytes as the partition's files
    const fromImg = (await run('mtype', ['-i', bootImg, '::/start4.elf'], { env: { MTOOLS_SKIP_CHECK: '1' }, binary: true })).stdoutBuffer;
    expect(fromImg.equals(await readFile(join(t.dir, 'boot', 'start4.elf')))).toBe(true);
  });

  it("the boot initramfs carries the boards' storage, network and virtio drivers, and nothing for the build host", async () => {
    const initrd = (await run('mtype', ['-i', join(work, 'p1.img'), '::/initrd.img'], { env: { MTOOLS_SKIP_CHECK: '1' }, binary: true })).stdoutBuffer;
    const members = await initramfsMembers(initrd, 'initrd.img');
    const modules = new Set(members.filter((e) => /\.ko(\.\w+)?$/.test(e.path)).map((e) => moduleName(e.path)));
    // what each board needs to find its root filesystem (src/builder/initramfs-modules.ts)
    const needed = {
      'SD (Pi 3/4)': ['sdhci_iproc', 'bcm2835'],
      'USB mass storage': ['usb_storage', 'uas', 'sd_mod', 'xhci_pci', 'dwc2'],
      NVMe: ['nvme'],
      Ethernet: ['genet', 'smsc95xx', 'lan78xx', 'macb'],
      'QEMU virt': ['virtio_blk', 'virtio_net', 'virtio_mmio'],
      'root filesystem': ['ext4', 'crc32c_generic'],
    };
    for (const [why, names] of Object.entries(needed))
      expect(
        names.filter((n) => !modules.has(n)),
        why,
      ).toEqual([]);
    // MODULES=list: the set above and its dependencies, not every driver of the kernel (MODULES=most: ~700)
    expect(modules.size).toBeLessThan(120);
    expect(members.filter((e) => (e.mode & 0o170000) === 0o100000 && hostArchOf(e.data.subarray(0, 20)))).toEqual([]);
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
    await writeFile(other, `extends: ${testImageSpec}\npackages: [linux-image-arm64, zstd]\n`);
    const err = await run(process.execPath, [kiln, 'build', other, '--lock', t.lock, '--out', join(work, 'dist2')]).catch((e: Error) => e);
    expect(String(err)).toMatch(/different package set.*kiln lock/s);
    await expect(stat(join(work, 'dist2', TEST_IMAGE))).rejects.toThrow();
  });
  // The second build under another TZ, umask, locale and directory is equivalence.test.ts's
  // emulated build: one build that checks both the environment and the native mode.
});
