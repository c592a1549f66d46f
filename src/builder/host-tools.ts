import { execa } from 'execa';
import { ToolError, tail } from '../util/exec.js';

/**
 * What the host still provides, whose versions go into the manifest: mmdebstrap, apt and
 * qemu-user-static make the rootfs stage (its cache key has mmdebstrap's version); dpkg's dpkg-deb
 * and tar unpack .debs. The programs that write the image's bytes after the rootfs (e2fsprogs,
 * dosfstools, mtools, zstd, tar for the tree) come from the lock (manifest `imageTools`), not from here.
 */
export const HOST_PACKAGES = ['mmdebstrap', 'apt', 'apt-utils', 'dpkg', 'tar', 'qemu-user-static'];

/**
 * node's version and the installed HOST_PACKAGES' (a package dpkg does not know, such as an
 * mmdebstrap run from a checkout, is left out; the rootfs key has `mmdebstrap --version` anyway).
 */
export async function hostToolVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.version };
  // dpkg-query's own ${Field} syntax, escaped so that JavaScript leaves it alone.
  const args = ['-W', '-f', `\${Package}\t\${Version}\n`, ...HOST_PACKAGES];
  // exit 1 when some package is not installed: the others are still listed
  const r = await execa('dpkg-query', args, { reject: false });
  if (r.exitCode !== 0 && !/no packages found/.test(String(r.stderr))) {
    throw new ToolError('dpkg-query', args, r.exitCode, tail(`${r.shortMessage ?? ''}\n${String(r.stderr ?? '')}`));
  }
  for (const line of String(r.stdout).split('\n')) {
    const [name, version] = line.split('\t');
    if (name && version) out[name] = version;
  }
  return out;
}
