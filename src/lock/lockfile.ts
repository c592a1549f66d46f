import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { KilnError, formatIssues } from '../util/errors.js';
import { writeFileAtomically } from '../util/atomic.js';

export const lockedPackageSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  arch: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive(),
  /** Pool path relative to the mirror root, e.g. pool/main/a/apt/apt_3.0.4_arm64.deb */
  filename: z.string().regex(/^pool\/[^\0]+\.deb$/),
});
export type LockedPackage = z.infer<typeof lockedPackageSchema>;

export const lockSchema = z.strictObject({
  lockVersion: z.literal(1),
  spec: z.string(),
  /** Hash of the spec fields that decide the closure (debian + packages): a mismatch means re-lock. */
  packagesHash: z.string(),
  mirror: z.string(),
  suite: z.string(),
  architecture: z.string(),
  /** The Release file's Date, to show how old the lock's view of the archive is. */
  releaseDate: z.string(),
  packages: z.array(lockedPackageSchema).min(1),
  /** The spec's `installer.packages`, exactly as named (no closure): unpacked, not installed. */
  installerPackages: z.array(lockedPackageSchema).optional(),
  /**
   * The build host's twins of the image's build tools (src/builder/native/tools.ts): the same source
   * versions from the same archive view, for the native rootfs mode. Never installed in the image.
   */
  nativeTools: z.strictObject({ architecture: z.string(), packages: z.array(lockedPackageSchema).min(1) }).optional(),
  /**
   * The programs that write the image's bytes after the rootfs (tar, e2fsprogs, dosfstools, mtools,
   * zstd: src/builder/native/tools.ts) for the build host's architecture, with their closure, from
   * the image's suite and archive view. Every build runs them from here, never from the host.
   */
  imageTools: z.strictObject({ architecture: z.string(), packages: z.array(lockedPackageSchema).min(1) }).optional(),
});
export type Lock = z.infer<typeof lockSchema>;

export function lockPathFor(specPath: string): string {
  return `${specPath.replace(/\.ya?ml$/, '')}.lock.json`;
}

export async function readLock(path: string): Promise<Lock> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new KilnError(`no lock file at ${path}; run: kiln lock <spec>`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new KilnError(`lock file ${path} is not JSON: ${(err as Error).message}`);
  }
  const r = lockSchema.safeParse(raw);
  if (!r.success)
    throw new KilnError(
      `lock file ${path} is invalid:\n${formatIssues(r.error.issues)
        .map((p) => `  - ${p}`)
        .join('\n')}`,
    );
  return r.data;
}

export function serializeLock(lock: Lock): string {
  const byName = (a: LockedPackage, b: LockedPackage): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const sorted = {
    ...lock,
    packages: [...lock.packages].sort(byName),
    ...(lock.installerPackages ? { installerPackages: [...lock.installerPackages].sort(byName) } : {}),
    ...(lock.nativeTools ? { nativeTools: { ...lock.nativeTools, packages: [...lock.nativeTools.packages].sort(byName) } } : {}),
    ...(lock.imageTools ? { imageTools: { ...lock.imageTools, packages: [...lock.imageTools.packages].sort(byName) } } : {}),
  };
  return `${JSON.stringify(sorted, null, 1)}\n`;
}

export async function writeLock(path: string, lock: Lock): Promise<void> {
  await writeFileAtomically(path, serializeLock(lock));
}
