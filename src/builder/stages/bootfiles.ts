import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageSpec } from '../../spec/schema.js';
import { KilnError } from '../../util/errors.js';

export interface BootFiles {
  kernelVersion: string;
  /** Relative paths inside the boot partition, sorted. */
  files: string[];
}

/** config.txt: the spec's lines, then the kernel and initramfs kiln installed (fixed names). */
export function renderConfigTxt(spec: ImageSpec): string {
  return [
    '# Raspberry Pi firmware configuration, written by kiln from the image spec',
    ...spec.boot.configTxt,
    '[all]',
    'kernel=vmlinuz',
    'initramfs initrd.img followkernel',
    '',
  ].join('\n');
}

export function renderCmdline(spec: ImageSpec, diskId: string): string {
  const args = [`root=PARTUUID=${diskId}-02`, 'rootfstype=ext4', ...spec.boot.cmdline];
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
 * Gathers the boot partition from the installed root: Pi firmware from raspi-firmware, the kernel,
 * its initrd and the Broadcom device trees, plus the rendered config files.
 */
export async function collectBootFiles(tree: string, spec: ImageSpec, diskId: string, out: string): Promise<BootFiles> {
  const kernels = (await readdir(join(tree, 'boot'))).filter((n) => n.startsWith('vmlinuz-')).sort();
  const [kernel] = kernels;
  if (kernel === undefined || kernels.length !== 1) {
    throw new KilnError(`expected exactly one kernel in /boot, found ${kernels.length}: ${kernels.join(', ') || 'none'} (is linux-image-arm64 in the spec?)`);
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

  const fw = join(tree, 'usr/lib/raspi-firmware');
  if (!(await exists(fw))) throw new KilnError('no /usr/lib/raspi-firmware (is raspi-firmware in the spec?)');
  for (const n of (await readdir(fw)).sort()) {
    if ((await stat(join(fw, n))).isFile()) await copy(join(fw, n), n);
  }
  const dtbDir = join(tree, 'usr/lib', `linux-image-${kver}`, 'broadcom');
  if (await exists(dtbDir)) {
    for (const n of (await readdir(dtbDir)).sort()) if (/^bcm27\d\d-rpi-.*\.dtb$|^bcm2712-.*\.dtb$/.test(n)) await copy(join(dtbDir, n), n);
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
