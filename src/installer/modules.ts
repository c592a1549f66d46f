// Which kernel modules the installer carries, and in what order it loads them. Pure: the caller
// reads modules.dep from the image's own kernel and passes its text in.

import { KilnError } from '../util/errors.js';

/**
 * Drivers the installer needs on the boards kiln targets. `optional` ones are skipped (and named in
 * the build log) when a kernel does not have them; a missing required one fails the build.
 */
export const INSTALLER_MODULES: readonly { name: string; why: string; optional?: boolean }[] = [
  { name: 'virtio_mmio', why: 'QEMU virt devices' },
  { name: 'virtio_net', why: 'QEMU network' },
  { name: 'virtio_blk', why: 'QEMU disk' },
  { name: 'genet', why: 'Pi 4 ethernet' },
  { name: 'mdio_bcm_unimac', why: 'Pi 4 ethernet MDIO' },
  { name: 'broadcom', why: 'Pi 4 ethernet PHY', optional: true },
  { name: 'bcm7xxx', why: 'Pi 4 ethernet PHY', optional: true },
  { name: 'macb', why: 'Pi 5 ethernet (behind RP1)', optional: true },
  { name: 'sdhci_iproc', why: 'Pi 4 SD card (emmc2)' },
  { name: 'bcm2835', why: 'Pi 3/4 SD host', optional: true },
  { name: 'sdhci_brcmstb', why: 'Pi 5 SD card', optional: true },
  { name: 'reset_raspberrypi', why: 'Pi 4 VL805 USB controller firmware reset', optional: true },
  { name: 'xhci_pci', why: 'Pi 4 USB 3' },
  { name: 'xhci_plat_hcd', why: 'Pi 5 USB', optional: true },
  { name: 'usb_storage', why: 'USB disks' },
  { name: 'uas', why: 'USB attached SCSI disks' },
  { name: 'sd_mod', why: 'SCSI/USB disks' },
  { name: 'nvme', why: 'NVMe (Pi 5 PCIe)' },
  // modules.dep does not list it: ext4 names it as a softdep (crypto-crc32c) for metadata_csum
  { name: 'crc32c_generic', why: 'ext4 metadata checksums' },
  { name: 'ext4', why: 'leaves the seed pointer in the root filesystem' },
];

/** `kernel/drivers/net/virtio_net.ko.xz` → `virtio_net`; dashes and underscores are one name. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');
}

/** Parses modules.dep: module path → the paths it depends on. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new KilnError(`modules.dep: cannot read line ${JSON.stringify(raw)}`);
    const path = line.slice(0, colon);
    const deps = line
      .slice(colon + 1)
      .split(/\s+/)
      .filter((d) => d !== '');
    out.set(path, deps);
  }
  return out;
}

export interface ModulePlan {
  /** Module paths (relative to /lib/modules/<kver>/) in an order where dependencies come first. */
  order: string[];
  /** Optional modules this kernel does not have. */
  skipped: string[];
}

/** Dependency closure of the wanted modules, each dependency before its users, no duplicates. */
export function planModules(
  dep: Map<string, string[]>,
  wanted: readonly { name: string; optional?: boolean }[],
  /** Names from modules.builtin: compiled into the kernel, nothing to carry. */
  builtin: ReadonlySet<string> = new Set(),
): ModulePlan {
  const byName = new Map<string, string>();
  for (const path of dep.keys()) byName.set(moduleName(path), path);
  const order: string[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const skipped: string[] = [];
  const visit = (path: string, chain: string[]): void => {
    if (placed.has(path)) return;
    if (visiting.has(path)) throw new KilnError(`modules.dep has a dependency cycle: ${[...chain, path].join(' -> ')}`);
    const deps = dep.get(path);
    if (deps === undefined) throw new KilnError(`modules.dep names ${path} as a dependency but has no entry for it`);
    visiting.add(path);
    for (const d of deps) visit(d, [...chain, path]);
    visiting.delete(path);
    placed.add(path);
    order.push(path);
  };
  for (const w of wanted) {
    const path = byName.get(w.name.replaceAll('-', '_'));
    if (!path) {
      if (builtin.has(w.name.replaceAll('-', '_'))) continue;
      if (w.optional) skipped.push(w.name);
      else throw new KilnError(`the image's kernel has no module ${w.name}, which the installer needs`);
      continue;
    }
    visit(path, []);
  }
  return { order, skipped };
}

/** Where a module lands in the initramfs: decompressed, since the installer's insmod reads plain ELF. */
export function plainModulePath(path: string): string {
  return path.replace(/\.ko\.(xz|zst|gz)$/, '.ko');
}

/** Parses modules.builtin (one module path per line) into module names. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .map(moduleName),
  );
}
