import { execa } from 'execa';
import { extract } from 'tar-stream';
import type { LockedPackage } from '../lock/lockfile.js';
import type { BlobStore } from '../store/blob-store.js';
import type { StageCache } from '../store/stage-cache.js';
import { type KernelFacts, parseKernelConfig } from '../boards/kernel-check.js';
import { moduleName, parseModulesBuiltin } from '../installer/modules.js';
import { KilnError } from '../util/errors.js';
import { ToolError, tail } from '../util/exec.js';
import { z } from 'zod';

// Reads what a kernel offers (config, modules, device trees) from its locked .debs, before the
// rootfs is built: a spec whose kernel cannot boot a listed board fails in seconds, not minutes.

/** linux-image-7.3.4+deb13-arm64, linux-modules-…, linux-base-…, linux-binary-… (not the meta packages). */
const KERNEL_PACKAGE = /^linux-(image|base|binary|modules)-(\d[^\s]*)$/;

/** The locked packages that make up the image's kernel, and its release. */
export function kernelPackages(packages: readonly LockedPackage[]): { version: string; debs: LockedPackage[] } {
  const debs = packages.filter((p) => KERNEL_PACKAGE.test(p.name));
  const versions = [...new Set(debs.map((p) => KERNEL_PACKAGE.exec(p.name)?.[2] ?? ''))].sort();
  const [version] = versions;
  if (version === undefined || versions.length !== 1) {
    throw new KilnError(`the lock must hold exactly one kernel, found ${versions.length}: ${versions.join(', ') || 'none'}`, {
      hint: 'name one versioned kernel package in the spec (e.g. linux-image-7.3.4+deb13-arm64) or linux-image-arm64',
    });
  }
  return { version, debs };
}

const factsSchema = z.object({
  version: z.string(),
  packages: z.array(z.string()),
  options: z.record(z.string(), z.enum(['y', 'm'])),
  modules: z.array(z.string()),
  builtin: z.array(z.string()),
  dtbs: z.array(z.string()),
});

/** The kernel's facts, cached by the .debs' hashes (reading them decompresses ~100 MB). */
export async function kernelFacts(packages: readonly LockedPackage[], store: BlobStore, cache: StageCache): Promise<KernelFacts & { cached: boolean }> {
  const { version, debs } = kernelPackages(packages);
  const entry = await cache.get({
    stage: 'kernel-facts',
    inputs: { recipe: 1, version, debs: debs.map((d) => d.sha256).sort() },
    nouns: { debs: 'packages' },
    parseMeta: (m) => factsSchema.parse(m),
    fill: async () => ({ meta: await readFacts(version, debs, store) }),
  });
  return { ...entry.meta, cached: entry.cached };
}

async function readFacts(version: string, debs: readonly LockedPackage[], store: BlobStore): Promise<KernelFacts> {
  const v = version.replaceAll('.', '\\.').replaceAll('+', '\\+');
  const moduleRe = new RegExp(`^(usr/)?lib/modules/${v}/kernel/.+\\.ko(\\.(xz|zst|gz))?$`);
  const configRe = new RegExp(`^(boot/config-${v}|usr/lib/modules/${v}/config)$`);
  const builtinRe = new RegExp(`^(usr/)?lib/modules/${v}/modules\\.builtin$`);
  const dtbRe = new RegExp(`^usr/lib/(linux-image-${v}|modules/${v}/dtb)/broadcom/([^/]+\\.dtb)$`);
  let config: string | undefined;
  let builtin = '';
  const modules = new Set<string>();
  const dtbs = new Set<string>();
  const wanted = (name: string): boolean => configRe.test(name) || builtinRe.test(name);
  for (const deb of debs) {
    await store.open(deb.sha256, `${deb.name} ${deb.version}`);
    await eachMember(store.blobPath(deb.sha256), wanted, (name, text) => {
      if (moduleRe.test(name)) modules.add(moduleName(name));
      const dtb = dtbRe.exec(name)?.[2];
      if (dtb) dtbs.add(dtb);
      if (configRe.test(name)) config = text;
      if (builtinRe.test(name)) builtin = text ?? '';
    });
  }
  if (config === undefined) throw new KilnError(`kernel ${version}: none of ${debs.map((d) => d.name).join(', ')} holds its config`);
  return {
    version,
    packages: debs.map((d) => d.name).sort(),
    options: parseKernelConfig(config),
    modules: [...modules].sort(),
    builtin: [...parseModulesBuiltin(builtin)].sort(),
    dtbs: [...dtbs].sort(),
  };
}

/** Calls `visit` with every member of a .deb's data tar, and the text of those `wanted` says to read. */
async function eachMember(deb: string, wanted: (name: string) => boolean, visit: (name: string, text: string | undefined) => void): Promise<void> {
  const args = ['--fsys-tarfile', deb];
  const child = execa('dpkg-deb', args, { buffer: { stdout: false, stderr: true }, reject: false, encoding: 'buffer' });
  const tar = extract();
  const walked = new Promise<void>((resolve, reject) => {
    tar.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      const read = wanted(name);
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        if (read && c instanceof Uint8Array) chunks.push(Buffer.from(c));
      });
      stream.on('end', () => {
        visit(name, read ? Buffer.concat(chunks).toString('utf8') : undefined);
        next();
      });
      stream.resume();
    });
    tar.on('finish', resolve);
    tar.on('error', reject);
  });
  child.stdout?.pipe(tar);
  const [r] = await Promise.all([child, walked]);
  if (r.failed) throw new ToolError('dpkg-deb', args, r.exitCode, tail(Buffer.from(r.stderr ?? '').toString('utf8')));
}
