import { run } from '../util/exec.js';

/**
 * What the host still provides, whose versions go into the manifest: mmdebstrap, apt and
 * qemu-user-static make the rootfs stage (its cache key has mmdebstrap's version); dpkg's dpkg-deb
 * and tar unpack .debs. The programs that write the image's bytes after the rootfs (e2fsprogs,
 * dosfstools, mtools, zstd, tar for the tree) come from the lock (manifest `imageTools`), not from here.
 */
export const HOST_PACKAGES = ['mmdebstrap', 'apt', 'apt-utils', 'dpkg', 'tar', 'qemu-user-static'];

export async function hostToolVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.version };
  // dpkg-query's own ${Field} syntax, escaped so that JavaScript leaves it alone.
  const r = await run('dpkg-query', ['-W', '-f', `\${Package}\t\${Version}\n`, ...HOST_PACKAGES]);
  for (const line of r.stdout.split('\n')) {
    const [name, version] = line.split('\t');
    if (name && version) out[name] = version;
  }
  return out;
}
