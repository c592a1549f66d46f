import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageSpec } from '../../spec/schema.js';
import { KilnError } from '../../util/errors.js';
import { boardsOf } from '../../boards/catalog.js';

export interface BootFiles {
  kernelVersion: string;
  /** Relative paths inside the boot partition, sorted. */
  files: string[];
}

/**
 * config.txt: the spec's lines, then a section per Pi board the image targets that boots kiln's
 * kernel and initramfs (fixed names). A board the image does not target finds no kernel line and
 * stops at the firmware, rather than booting a kernel never checked against it.
 */
export function renderConfigTxt(spec: ImageSpec): string {
  const sections = boardsOf(spec.boards).flatMap((b) =>
    b.section === undefined
      ? []
      : [
          '',
          `# ${b.title}: device trees ${b.dtbs.join(', ')}${b.firmware ? '' : '; its firmware is in the EEPROM'}`,
          b.section,
          'kernel=vmlinuz',
          'initramfs initrd.img followkernel',
        ],
  );
  return ['# Raspberry Pi firmware configuration, written by kiln from the image spec', ...spec.boot.configTxt, ...sections, '[all]', ''].join('\n');
}

/**
 * cmdline.txt, one for every Pi board: the spec's arguments, then each Pi board's serial console (a
 * console= naming a device a board lacks is ignored there; the last one a board has is /dev/console).
 */
export function renderCmdline(spec: ImageSpec, diskId: string): string {
  const consoles = boardsOf(spec.boards)
    .filter((b) => b.section !== undefined)
    .map((b) => `console=${b.console}`);
  const args = [`root=PARTUUID=${diskId}-02`, 'rootfstype=ext4', ...spec.boot.cmdline];
  for (const c of consoles) if (!args.includes(c)) args.push(c);
  return `${args.join(' ')}\n`;
}

/** U-Boot's extlinux: the same kernel, initrd and root, with a console for QEMU's virt machine. */
export function renderExtlinux(spec: ImageSpec, diskId: string): string {
  const args = [`root=PARTUUID=${diskId}-02`, 'rootfstype=ext4', ...spec.boot.cmdline.filter((a) => !a.startsWith('console=')), 'console=ttyAMA0,115200'];
  return [
    '# written by kiln: U-Boot (and QEMU virt) boot the same partition as the Pi firmware',
    'default kiln',
    'timeout 10',
    '',
    'label kiln',
    `  menu label ${spec.name}`,
    '  kernel /vmlinuz',
    '  initrd /initrd.img',
    `  append ${args.join(' ')}`,
    '',
  ].join('\n');
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Gathers the boot partition from the installed root for the spec's boards: their Pi firmware from
 * raspi-firmware, the kernel, its initrd and their device trees, plus the rendered config files.
 */
export async function collectBootFiles(tree: string, spec: ImageSpec, diskId: string, out: string): Promise<BootFiles> {
  const kernels = (await readdir(join(tree, 'boot'))).filter((n) => n.startsWith('vmlinuz-')).sort();
  const [kernel] = kernels;
  if (kernel === undefined || kernels.length !== 1) {
    throw new KilnError(`expected exactly one kernel in /boot, found ${kernels.length}: ${kernels.join(', ') || 'none'} (is a kernel package in the spec?)`);
  }
  const kver = kernel.slice('vmlinuz-'.length);
  await mkdir(out, { recursive: true });
  const copy = async (from: string, rel: string): Promise<void> => {
    await mkdir(join(out, rel, '..'), { recursive: true });
    await copyFile(from, join(out, rel));
  };
  await copy(join(tree, 'boot', `vmlinuz-${kver}`), 'vmlinuz');
  const initrd = join(tree, 'boot', `initrd.img-${kver}`);
  if (!(await exists(initrd))) throw new KilnError(`no /boot/initrd.img-${kver} (is initramfs-tools installed?)`);
  await copy(initrd, 'initrd.img');

  const boards = boardsOf(spec.boards);
  const firmware = boards.flatMap((b) => (b.firmware ? [b.firmware] : []));
  if (firmware.length > 0) {
    const fw = join(tree, 'usr/lib/raspi-firmware');
    const needs = `${boards
      .filter((b) => b.firmware)
      .map((b) => b.name)
      .join(', ')} need`;
    if (!(await exists(fw))) throw new KilnError(`no /usr/lib/raspi-firmware: ${needs} the Pi firmware (is raspi-firmware in the spec?)`);
    const names = (await readdir(fw)).sort();
    for (const f of firmware) {
      const missing = f.required.filter((n) => !names.includes(n));
      if (missing.length) throw new KilnError(`raspi-firmware has no ${missing.join(', ')}, which ${needs}`);
    }
    for (const n of names) if (firmware.some((f) => f.variants.test(n)) && (await stat(join(fw, n))).isFile()) await copy(join(fw, n), n);
  }
  // The kernel's device trees (linux-image-<v>/broadcom links into /usr/lib/modules/<v>/dtb from 6.19 on).
  const dtbDir = join(tree, 'usr/lib', `linux-image-${kver}`, 'broadcom');
  for (const n of [...new Set(boards.flatMap((b) => b.dtbs))].sort()) {
    if (!(await exists(join(dtbDir, n)))) throw new KilnError(`the kernel ${kver} has no ${n} in /usr/lib/linux-image-${kver}/broadcom`);
    await copy(join(dtbDir, n), n);
  }
  const overlays = join(tree, 'usr/lib', `linux-image-${kver}`, 'overlays');
  if (await exists(overlays)) for (const n of (await readdir(overlays)).sort()) await copy(join(overlays, n), join('overlays', n));

  await writeFile(join(out, 'config.txt'), renderConfigTxt(spec));
  await writeFile(join(out, 'cmdline.txt'), renderCmdline(spec, diskId));
  if (spec.boot.extlinux) {
    await mkdir(join(out, 'extlinux'), { recursive: true });
    await writeFile(join(out, 'extlinux', 'extlinux.conf'), renderExtlinux(spec, diskId));
  }
  return { kernelVersion: kver, files: await listFiles(out) };
}

export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}
