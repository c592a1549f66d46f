import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/schema.js';
import { readManifest } from '../../src/manifest/read.js';
import { MANIFEST_FILE } from '../../src/manifest/write.js';
import { must } from '../helpers/must.js';
import { run } from '../../src/util/exec.js';
import { sleep } from '../helpers/net.js';
import { KilnProcess, compileKiln } from '../helpers/kiln-process.js';
import { TEST_IMAGE, testImage } from '../helpers/images/test-image.js';
import { timeline, type Mark } from '../helpers/timeline.js';
import { startVirtMachine } from '../helpers/qemu.js';

// Reprovision end to end, in QEMU: an arm64 virt machine with U-Boot's qemu_arm64 firmware and an
// EMPTY virtio disk netboots from `kiln serve` (full DHCP mode, in a network namespace on a tap),
// runs kiln's installer (streamed bmap ranges, verified), reboots from the disk it wrote, takes its
// identity from kiln's NoCloud seed and starts the k3s unit, here the k3s TEST FIXTURE (not k3s).
//
// It serves the shared test build of images/pi-k3s-test.yaml (test/helpers/images/test-image.ts:
// built once per cache, a no-op afterwards). KILN_E2E=0 skips it; KILN_E2E_IMAGES=<dir> serves
// another images dir holding pi-k3s-test/; KILN_TEST_VERBOSE=1 prints the console as it comes.

const UBOOT = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';
const IMAGE = TEST_IMAGE;
const NODE = 'e2e-01';
const MAC = '52:54:00:4b:31:01';
const KILN_IP = '10.79.0.2';
const ready = process.env.KILN_E2E !== '0';

let IMAGES: string;
let work: string;
let ns: string;
let kiln: KilnProcess;
let qemu: ResultPromise | undefined;
let consoleText = '';
const marks: Mark[] = [];
const t0 = Date.now();

function mark(what: string): void {
  if (!marks.some((m) => m.what === what)) marks.push({ what, at: Date.now() });
}

async function waitConsole(re: RegExp, ms: number, what: string): Promise<void> {
  for (let t = 0; t < ms; t += 250) {
    if (re.test(consoleText)) return mark(what);
    if (qemu?.exitCode !== null && qemu?.exitCode !== undefined) break;
    await sleep(250);
  }
  throw new Error(`console never showed ${re} (${what}):\n${consoleText.slice(-4000)}`);
}

interface Ev {
  type: string;
  at: string;
  data: Record<string, unknown>;
}

async function events(): Promise<Ev[]> {
  return (JSON.parse(await kiln.get(`/api/nodes/${NODE}`)) as { events: Ev[] }).events;
}

async function waitEvent(type: string, ms: number): Promise<Ev> {
  for (let t = 0; t < ms; t += 2000) {
    const all = await events().catch(() => [] as Ev[]);
    const e = all.find((x) => x.type === type);
    if (e) {
      mark(`event ${type}`);
      return e;
    }
    const failed = all.find((x) => x.type === 'install-failed' || x.type === 'parked');
    if (failed) throw new Error(`node reported ${failed.type}: ${JSON.stringify(failed.data)}\n${consoleText.slice(-3000)}`);
    await sleep(2000);
  }
  throw new Error(
    `no ${type} event within ${ms / 1000}s:\n${JSON.stringify(await events().catch(() => []), null, 1).slice(-3000)}\n${consoleText.slice(-3000)}`,
  );
}

beforeAll(async () => {
  if (!ready) return;
  if (!existsSync(UBOOT)) throw new Error(`${UBOOT} is missing: run scripts/setup-host.sh (package u-boot-qemu)`);
  IMAGES = process.env.KILN_E2E_IMAGES ? resolve(process.env.KILN_E2E_IMAGES) : (await testImage()).imagesDir;
  if (!existsSync(join(IMAGES, IMAGE, 'installer', 'initrd.img'))) throw new Error(`${join(IMAGES, IMAGE)} has no installer/initrd.img`);
  const compiled = await compileKiln();
  work = compiled.work;
  writeFileSync(join(work, 'nodes.yaml'), `nodes:\n  - {name: ${NODE}, mac: "${MAC}", role: server, clusterInit: true, image: ${IMAGE}, plan: install}\n`);
  ns = `ke${process.pid % 100000}`;
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
  await run('ip', ['-n', ns, 'addr', 'add', `${KILN_IP}/24`, 'dev', 'br0']);
  await run('ip', ['-n', ns, 'link', 'set', 'br0', 'up']);
  await run('ip', ['-n', ns, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  await run('ip', ['-n', ns, 'link', 'set', 'tap0', 'master', 'br0', 'up']);
  // A disk larger than the image that held data before (a reused card): every byte the image
  // covers is old non-zero data, so the installer must write or zero all of it.
  await oldData(join(work, 'disk.raw'), (await readManifest(join(IMAGES, IMAGE, MANIFEST_FILE))).image.size);
  await run('truncate', ['-s', '4G', join(work, 'disk.raw')]);
  kiln = new KilnProcess(ns, compiled.entry);
  await kiln.start([
    '--mode',
    'full',
    '--advertise',
    KILN_IP,
    '--pool',
    '10.79.0.100-10.79.0.110',
    '--state-dir',
    join(work, 'state'),
    '--images-dir',
    IMAGES,
    '--nodes',
    join(work, 'nodes.yaml'),
  ]);
}, 90 * 60_000);

afterAll(async () => {
  if (ready && marks.length) {
    // Printed whatever the outcome: how far it got and how long each step took.
    console.log(timeline(marks, marks.find((m) => m.what === 'power on')?.at ?? t0));
    const all = kiln ? await events().catch(() => [] as Ev[]) : [];
    console.log(all.map((e) => `${e.at} ${e.type}${e.data.message ? ` ${String(e.data.message)}` : ''}`).join('\n'));
  }
  qemu?.kill('SIGKILL');
  if (qemu) await Promise.race([qemu, sleep(3000)]);
  await kiln?.stop();
  if (process.env.KILN_E2E_KEEP && work) console.log(`kept ${work}`);
  if (ns) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  if (work && !process.env.KILN_E2E_KEEP) rmSync(work, { recursive: true, force: true });
});

describe('reprovision a wiped node in QEMU', () => {
  it.skipIf(!ready)(
    'DHCP → TFTP → installer → written and verified → reboot from disk → seed → k3s unit',
    async () => {
      const manifest = await readManifest(join(IMAGES, IMAGE, MANIFEST_FILE));
      let vm = powerOn();
      mark('power on');
      console.log(
        `image ${manifest.image.size} bytes; the bmap maps ${manifest.image.bmap.mappedBytes} (${((100 * manifest.image.bmap.mappedBytes) / manifest.image.size).toFixed(1)}%), all the installer fetches`,
      );

      await waitConsole(/DHCP client bound to address 10\.79\.0\.1\d\d/, 300_000, 'U-Boot DHCP lease');
      await waitConsole(new RegExp(`kiln: netboot plan for ${NODE}`), 120_000, 'boot.scr over TFTP');
      await waitConsole(/Retrieving file: .*installer\/initrd\.img/, 600_000, 'installer kernel over TFTP');
      await waitConsole(/kiln-installer: starting/, 600_000, 'installer running');
      const started = await waitEvent('install-started', 600_000);
      expect(started.data.disk).toBe('/dev/vda');
      const installed = await waitEvent('installed', 3 * 3600_000);
      expect(installed.data.sha256).toBe(manifest.image.sha256);
      expect(installed.data.bytes).toBe(manifest.image.bmap.mappedBytes);

      // The installer reboots; -no-reboot turns that into QEMU exiting, so the disk can be checked
      // exactly as the installer left it: both filesystems sound although the disk held old data
      // where the image has zeros. Then power on again: the node boots its disk.
      const exited = await Promise.race([vm.then(() => true), sleep(120_000).then(() => false)]);
      if (!exited) throw new Error(`the installer did not reboot within 2 min of installed:\n${consoleText.slice(-3000)}`);
      mark('installer rebooted');
      await fsckPartitions(join(work, 'disk.raw'), manifest);
      mark('disk checked (fsck.vfat, e2fsck)');
      consoleText = '';
      vm = powerOn();
      // U-Boot's distro boot finds extlinux.conf on virtio0 before it tries DHCP.
      await waitConsole(/Retrieving file: \/extlinux\/extlinux\.conf|Found \/extlinux\/extlinux\.conf/, 600_000, 'U-Boot boots the disk');
      await waitEvent('seed-fetched', 1800_000);
      await waitConsole(new RegExp(`${NODE} login:`), 1800_000, 'login prompt with the seeded hostname');
      const fb = await waitEvent('first-boot', 1800_000);
      expect(fb.data.detail ?? fb.data.message).toMatch(/server/);
      await waitEvent('k3s-started', 600_000);

      // The fixture syncs its record (its last line just after it notified systemd: give it a few
      // seconds), then the VM is cut off as a power failure would.
      await sleep(5000);
      vm.kill('SIGKILL');
      await Promise.race([vm, sleep(5000)]);
      const [calls, seedPointer] = await readFromRoot(join(work, 'disk.raw'), must(manifest.partitions[1], 'the root partition in the manifest').offset, [
        '/var/lib/kiln-k3s-fixture/calls.log',
        '/var/lib/cloud/seed/nocloud-net/meta-data',
      ]);
      expect(calls).toMatch(/^argv: server$/m);
      expect(calls).toMatch(/^config-keys:.* token.* node-name.* cluster-init/m);
      // the seed URL the installer left carries the credential it enrolled for (never the install token)
      expect(seedPointer).toMatch(new RegExp(`^seedfrom: http://${KILN_IP.replaceAll('.', '\\.')}:8080/seed/${NODE}/[0-9a-f]{64}/\n$`));
      expect((await events()).filter((e) => e.type === 'enrolled')).toHaveLength(1);
      // The unit is Type=notify: it is "started" only once the fixture told systemd it was ready.
      expect(calls).toMatch(/^notified: ready$/m);
      // systemd's own "Started k3s.service" is on the console only when k3s was ready before the
      // serial getty took the console: while a unit holds the console, systemd prints no status
      // (it would garble the login prompt). That order is a race inside the VM (seen lost in every
      // run on 2026-12-03, also at the commit that had passed the day before), so it is reported,
      // not required. What stays checked: the unit ran the fixture with the node's config and the
      // fixture sent READY; that systemd accepted it is unchecked when the getty won (the fixture
      // does not record systemd-notify's result; changing that changes its pin and the test image).
      console.log(`console shows "Started k3s.service": ${showsStarted(consoleText, 'k3s.service') ? 'yes' : 'no (the getty had the console first)'}`);
    },
    4 * 3600_000,
  );
});

/**
 * Whether the text has "Started <unit>", the unit name optionally opened by one colour sequence
 * (ESC [ digits and semicolons m) as systemd writes it on the console.
 */
function showsStarted(text: string, unit: string): boolean {
  const started = 'Started ';
  for (let at = text.indexOf(started); at !== -1; at = text.indexOf(started, at + 1)) {
    let i = at + started.length;
    if (text.charCodeAt(i) === 0x1b && text[i + 1] === '[') {
      i += 2;
      while (i < text.length && '0123456789;'.includes(text.charAt(i))) i++;
      if (text[i] !== 'm') continue;
      i++;
    }
    if (text.startsWith(unit, i)) return true;
  }
  return false;
}

/**
 * QEMU's `max` CPU without pointer authentication. A Cortex-A72 (the Pi 4's core) lacks E0PD, so
 * the kernel forces page-table isolation on when KASLR is on, and under TCG every kernel entry
 * then flushes QEMU's software TLB: the installer's syscall-heavy transfer ran at half speed (a
 * dd/sha256sum loop in the installer: 10 s on cortex-a72, 5 s here, the 7.3 kernel). Pointer
 * authentication is off because QEMU emulates it slowly; trixie's binaries run without it.
 */
const VM_CPU = 'max,pauth=off';

function powerOn(): ResultPromise {
  const vm = startVirtMachine({ ns, firmware: UBOOT, mac: MAC, cpu: VM_CPU, cpus: 2, memoryMiB: 1536, disk: join(work, 'disk.raw') });
  vm.all?.on('data', (c: Buffer) => {
    consoleText += c.toString();
    if (process.env.KILN_TEST_VERBOSE) process.stdout.write(c);
  });
  qemu = vm; // for waitConsole and afterAll
  return vm;
}

async function oldData(file: string, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(1 << 20, 'old data of a reused card. ');
  const fh = await open(file, 'w');
  try {
    for (let off = 0; off < bytes; off += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, bytes - off), off);
  } finally {
    await fh.close();
  }
}

/** e2fsck -fn and fsck.vfat -n of the installed disk's partitions, as the installer left them. */
async function fsckPartitions(disk: string, m: Manifest): Promise<void> {
  for (const [i, p] of m.partitions.entries()) {
    const loop = (await run('losetup', ['--find', '--show', '--read-only', `--offset=${p.offset}`, `--sizelimit=${p.size}`, disk])).stdout.trim();
    try {
      await run(i === 0 ? 'fsck.vfat' : 'e2fsck', i === 0 ? ['-n', loop] : ['-fn', loop]);
    } finally {
      await run('losetup', ['-d', loop]).catch(() => undefined);
    }
  }
}

/**
 * Reads files of the installed root filesystem after the VM was cut off: the kernel replays the
 * journal when it mounts (a read-only mount of a writable loop device still replays).
 */
async function readFromRoot(disk: string, offset: number, paths: readonly string[]): Promise<string[]> {
  const loop = (await run('losetup', ['--find', '--show', `--offset=${offset}`, disk])).stdout.trim();
  const mnt = mkdtempSync(join(tmpdir(), 'kiln-e2e-root-'));
  try {
    await run('mount', ['-t', 'ext4', '-o', 'ro', loop, mnt]);
    try {
      return paths.map((p) => (existsSync(join(mnt, p)) ? readFileSync(join(mnt, p), 'utf8') : `(missing: ${p})`));
    } finally {
      await run('umount', [mnt]);
    }
  } finally {
    rmSync(mnt, { recursive: true, force: true });
    await run('losetup', ['-d', loop]).catch(() => undefined);
  }
}
