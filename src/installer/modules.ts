// Which kernel modules the installer carries, and in what order it loads them. Pure: the caller
// reads modules.dep from the image's own kernel and passes its text in.

import { KilnError } from '../util/errors.js';
import { modulesToLoad, type BoardName } from '../boards/catalog.js';

/**
 * Drivers the installer needs on the boards the image targets: their network, SD and disk drivers
 * and the root filesystem (src/boards/catalog.ts). The build has checked the kernel has them all.
 */
export function installerModules(boards: readonly BoardName[]): { name: string; why: string; optional?: boolean }[] {
  // a renamed module: the kernel has one of its names (the build checked), the others are skipped
  return modulesToLoad(boards).map((m) => ({ name: m.name, why: m.why, ...(m.alternative ? { optional: true } : {}) }));
}

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
