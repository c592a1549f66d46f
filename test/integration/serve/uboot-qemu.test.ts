import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/util/exec.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { sleep } from '../../helpers/net.js';
import { KilnProcess, compileKiln, serveDirs } from '../../helpers/kiln-process.js';
import { startVirtMachine } from '../../helpers/qemu.js';

// U-Boot (qemu_arm64 build from u-boot-qemu) in qemu-system-aarch64 netboots over a tap inside a
// namespace where kiln serves in full mode. The kernel and initrd are FIXTURE bytes, so the boot
// stops at "bad image"; what is verified is DHCP, the pxelinux.cfg lookup and the TFTP loads.

const UBOOT = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';
const MAC = '52:54:00:12:34:56';
const DASHES = MAC.replaceAll(':', '-');

let work: string;
let ns: string;
let kiln: KilnProcess;
let qemu: ResultPromise | undefined;
let consoleText = '';

beforeAll(async () => {
  const compiled = await compileKiln();
  work = compiled.work;
  makeFixtureImages(join(work, 'dist'));
  writeFileSync(join(work, 'nodes.yaml'), `nodes:\n  - {name: vm-01, mac: "${MAC}", plan: install}\n`);
  ns = `kq${process.pid % 100000}`;
  await run('ip', ['netns', 'add', ns]);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
  await run('ip', ['-n', ns, 'addr', 'add', '10.78.0.2/24', 'dev', 'br0']);
  await run('ip', ['-n', ns, 'link', 'set', 'br0', 'up']);
  await run('ip', ['-n', ns, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  await run('ip', ['-n', ns, 'link', 'set', 'tap0', 'master', 'br0', 'up']);
  kiln = new KilnProcess(ns, compiled.entry);
  await kiln.start(['--mode', 'full', '--advertise', '10.78.0.2', '--pool', '10.78.0.100-10.78.0.110', ...serveDirs(work)]);
}, 120_000);

afterAll(async () => {
  qemu?.kill('SIGKILL');
  await Promise.race([qemu, sleep(3000)]);
  await kiln?.stop();
  if (ns) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

async function waitFor(re: RegExp, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    if (re.test(consoleText)) return;
    await sleep(100);
  }
  throw new Error(`U-Boot console never showed ${re}:\n${consoleText.slice(-3000)}`);
}

describe('U-Boot netboot in QEMU', () => {
  it.skipIf(!existsSync(UBOOT))('autoboots: full-mode lease, boot.scr.uimg, pxelinux.cfg, kernel and initrd of the plan', async () => {
    // No keystrokes: U-Boot's own distro boot reaches its `dhcp` target, fetches boot.scr.uimg
    // from kiln, and that script runs `pxe get; pxe boot` for the node's plan.
    qemu = startVirtMachine({ ns, firmware: UBOOT, mac: MAC, cpu: 'cortex-a57', memoryMiB: 512 });
    qemu.all?.on('data', (c: Buffer) => (consoleText += c.toString()));
    await waitFor(/DHCP client bound to address 10\.78\.0\.1\d\d/, 120_000);
    await waitFor(/kiln: netboot plan for vm-01/, 60_000);
    await waitFor(new RegExp(`Retrieving file: pxelinux\\.cfg/01-${DASHES}`), 60_000);
    await waitFor(new RegExp(`Retrieving file: ${DASHES}/vmlinuz`), 60_000);
    await waitFor(/Bad Linux ARM64 Image magic/, 60_000); // FIXTURE kernel: the plan was followed to the end
    if (process.env.KILN_TEST_VERBOSE) console.log(consoleText);
    const node = JSON.parse(await kiln.get('/api/nodes/vm-01')) as {
      node: { ip: string };
      events: { type: string; data: { path?: string; bytes?: number } }[];
    };
    expect(node.node.ip).toMatch(/^10\.78\.0\.1\d\d$/);
    const fetched = node.events.filter((e) => e.type === 'file-fetched');
    expect(
      fetched.map((e) => e.data.path),
      consoleText.slice(-3000),
    ).toEqual(expect.arrayContaining(['boot.scr.uimg', `pxelinux.cfg/01-${DASHES}`, `${DASHES}/vmlinuz`, `${DASHES}/initrd.img`]));
    expect(fetched.find((e) => e.data.path === `${DASHES}/vmlinuz`)?.data.bytes).toBe(1_200_000);
    expect(consoleText).toContain(`append: root=PARTUUID=1a2b3c4d-02`);
    expect(consoleText).toContain('cgroup_enable=memory');
    // no seed URL on a command line anyone can fetch: the seed needs an enrolled credential
    expect(consoleText).not.toContain('/seed/');
  });
});
