import { readFile } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { run } from './exec.js';

/**
 * Removes a work directory that a chroot tool may have left mounts in (an interrupted mmdebstrap
 * leaves /proc, /sys, /dev and its file:// mirror bind-mounted). Unmounts everything below it first,
 * deepest first, so a recursive delete can never reach the host's /dev or the cache.
 */
export async function removeWorkDir(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
