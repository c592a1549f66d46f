import { run } from '../util/exec.js';

/** Host packages whose behaviour shapes the image bytes; their versions go into the manifest. */
export const HOST_PACKAGES = ['mmdebstrap', 'apt', 'apt-utils', 'dpkg', 'e2fsprogs', 'dosfstools', 'mtools', 'tar', 'zstd', 'qemu-user-static'];

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
