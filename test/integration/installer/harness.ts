import { closeSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { BmapRange } from '../../../src/disk/bmap.js';
import { BLOCK, type DiskResult } from '../../../src/builder/stages/disk.js';
import { parseDiskId } from '../../../src/disk/mbr.js';
import { scriptPath } from '../../../src/installer/initramfs.js';
import { run } from '../../../src/util/exec.js';
import { sha256 } from '../../../src/util/hash.js';
import { buildFixture } from '../../helpers/images/fs-image.js';
import { EPOCH, manifestPartitions, noise, writeImageDir as writeDir } from '../../helpers/images/image-dir.js';

// Helpers for install-loop.test.ts: a small kiln-shaped disk image (MBR, FAT, ext4, bmap 2.0 with
// sha256 ranges: test/helpers/images/fs-image.ts, which lays it out with kiln's own assembleDisk
// and renderBmap), an images dir for `kiln serve`, loop devices as target disks, and a runner for
// the installer's REAL init.sh functions under the host's busybox sh.

export const MiB = 1 << 20;

export interface SyntheticImage {
  /** The pristine image file. */
  img: string;
  bmap: string;
  disk: DiskResult;
  mappedBytes: number;
  /** A file on the ext4 root, to read back from the installed disk. */
  payload: { path: string; sha256: string };
}

const DISK_ID = '4b494c4e';
const FAT_ID = '1234ABCD';
const ROOT_UUID = '11111111-2222-4333-8444-555555555555';
const HASH_SEED = '66666666-7777-4888-9999-aaaaaaaaaaaa';

/**
 * FAT boot partition (20 MiB) + ext4 root (24 MiB) behind a 4 MiB gap: a 48 MiB image. The FAT's
 * 10 MiB kernel makes a range longer than the installer's 8 MiB chunk, with ranges after it.
 */
export async function buildSyntheticImage(work: string): Promise<SyntheticImage> {
  const payload = noise('payload', 2 * MiB + 1234);
  const built = await buildFixture(work, {
    name: 'pristine',
    epoch: EPOCH,
    diskId: parseDiskId(DISK_ID),
    fsUuid: ROOT_UUID,
    hashSeed: HASH_SEED,
    fatId: FAT_ID,
    boot: {
      'config.txt': { content: 'arm_64bit=1\nkernel=vmlinuz\n' },
      'cmdline.txt': { content: `console=ttyAMA0,115200 root=PARTUUID=${DISK_ID}-02 rootwait\n` },
      vmlinuz: { content: noise('kernel', 10 * MiB) },
    },
    root: {
      'etc/hostname': { content: 'kiln\n' },
      'etc/motd': { content: 'synthetic image for the installer loop test\n' },
      'usr/lib/kiln/payload.bin': { content: payload },
    },
    packages: [],
    geometry: { bootMiB: 20, rootMiB: 24, fatType: 0x0c, ext4BlockSize: 4096 },
  });
  return {
    img: built.img,
    bmap: built.bmap,
    disk: built.disk,
    mappedBytes: built.disk.mappedBlocks * BLOCK,
    payload: { path: '/usr/lib/kiln/payload.bin', sha256: sha256(payload) },
  };
}

export const rangeBytes = (r: BmapRange): number => (r.last - r.first + 1) * BLOCK;

/**
 * `<imagesDir>/<name>/` as `kiln build` leaves it, with an installer (so kiln renders kiln.* onto
 * the node's command line). The .img is a copy of the pristine one: tests may damage it.
 */
export async function writeImageDir(imagesDir: string, name: string, im: SyntheticImage): Promise<string> {
  return writeDir(imagesDir, {
    name,
    boot: { 'cmdline.txt': `console=ttyAMA0,115200 root=PARTUUID=${DISK_ID}-02 rootwait\n`, 'config.txt': 'arm_64bit=1\nkernel=vmlinuz\n' },
    installer: { kernel: noise('installer-kernel', 4096), initrd: noise('installer-initrd', 4096) },
    img: { file: im.img, size: im.disk.size, sha256: im.disk.sha256 },
    zst: noise('zst', 4096),
    bmap: { text: im.bmap, mappedBytes: im.mappedBytes },
    diskId: DISK_ID,
    partitions: manifestPartitions(DISK_ID, im.disk.partitions, [
      { filesystem: 'vfat', label: 'BOOT', fsId: FAT_ID },
      { filesystem: 'ext4', label: 'root', fsId: ROOT_UUID, hashSeed: HASH_SEED },
    ]),
  }).img;
}

/** Flips every bit of one byte of a file in place. */
export function flipByte(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b.writeUInt8(b.readUInt8(0) ^ 0xff, 0);
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

export function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, b, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return b.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

// ---- loop devices ------------------------------------------------------------------------------

/** Target disks on loop devices; `detachAll` in afterAll whatever happened. */
export class LoopDisks {
  readonly attached: string[] = [];

  /**
   * A `size`-byte backing file, sparse or filled with `fill` (and `tail` as its last bytes),
   * attached with partition scanning.
   */
  async attach(file: string, size: number, opts: { fill?: Buffer; tail?: Buffer } = {}): Promise<string> {
    const fd = openSync(file, 'w');
    try {
      const { fill, tail } = opts;
      if (fill) for (let off = 0; off < size; off += fill.length) writeSync(fd, fill, 0, Math.min(fill.length, size - off), off);
      if (tail) writeSync(fd, tail, 0, tail.length, size - tail.length);
    } finally {
      closeSync(fd);
    }
    await run('truncate', ['-s', String(size), file]);
    const dev = (await run('losetup', ['--find', '--show', '-P', file])).stdout.trim();
    if (!/^\/dev\/loop\d+$/.test(dev)) throw new Error(`losetup gave ${JSON.stringify(dev)}`);
    this.attached.push(dev);
    return dev;
  }

  async detachAll(): Promise<void> {
    for (const dev of this.attached.splice(0)) await run('losetup', ['-d', dev]).catch(() => undefined);
  }
}

// ---- the installer, on the host ----------------------------------------------------------------

/**
 * Runs harness.sh: init.sh sourced (KILN_INSTALLER_LIB=1: functions only) with the shell settings
 * setup_pid1 makes, and the real install_loop, in kiln's network namespace and in a PID and mount
 * namespace of its own (the installer mounts partition 2 on /mnt). Replaced, by shell functions
 * (host busybox runs its own applets in preference to anything on PATH; functions win over both):
 * - reboot, console_shell: recorded in $CALLS (and in a PID namespace a real reboot(2) would only
 *   end that namespace);
 * - sleep $RETRY (the wait between attempts): recorded, then $ON_RETRY runs instead of the wait;
 *   other sleeps are real;
 * - mount: with $SNAPSHOT set, first copies the image's extent of the disk there: the disk as
 *   written and verified, before the seed pointer changes partition 2;
 * - blockdev: real, plus partx when the host kernel has no MBR parser (see harness.sh).
 */
const HARNESS = fileURLToPath(new URL('./harness.sh', import.meta.url));

export interface InstallerRun {
  exitCode: number | undefined;
  output: string;
  /** What the stand-ins recorded, in order. */
  calls: string[];
}

export async function runInstaller(
  ns: string,
  dir: string,
  opts: { cmdline: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<InstallerRun> {
  const calls = join(dir, 'calls');
  writeFileSync(calls, '');
  const r = await execa('ip', ['netns', 'exec', ns, 'unshare', '--pid', '--mount', '--fork', '--kill-child', 'busybox', 'sh', HARNESS], {
    env: {
      KILN_INSTALLER_LIB: '1',
      KILN_INIT: scriptPath('init.sh'),
      STATE: join(dir, 'state'),
      CALLS: calls,
      CMDLINE: opts.cmdline,
      ...opts.env,
    },
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 90_000,
  });
  return {
    exitCode: r.exitCode,
    output: r.all ?? '',
    calls: readFileSync(calls, 'utf8').split('\n').filter(Boolean),
  };
}
