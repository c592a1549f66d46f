import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../util/exec.js';
import type { Manifest } from '../manifest/schema.js';
import type { BuildEvent, Reporter } from './progress.js';
import { KilnError } from '../util/errors.js';

/** Everything the second build changes about its environment; none of it may reach the bytes. */
export const VARIED_ENV = { TZ: 'Pacific/Chatham', LC_ALL: 'POSIX', LANG: 'POSIX', umask: '0077' };

/**
 * Builds the spec a second time in a child process with every stage cache ignored (so the rootfs is
 * made again by mmdebstrap), another time zone, locale and umask, from another directory, into
 * another output directory, and compares the image hashes.
 */
export async function verifyReproducible(opts: {
  spec: string;
  lock?: string;
  cache: string;
  first: Manifest;
  report: Reporter;
  rootfsMode?: 'native' | 'emulated';
}): Promise<{ first: string; second: string; same: boolean; env: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-repro-'));
  const bin = fileURLToPath(new URL('../../bin/kiln.js', import.meta.url));
  const args = [bin, 'build', resolve(opts.spec), '--out', join(dir, 'out'), '--cache', resolve(opts.cache), '--no-stage-cache', '--json'];
  if (opts.lock) args.push('--lock', resolve(opts.lock));
  if (opts.rootfsMode) args.push('--rootfs-mode', opts.rootfsMode);
  try {
    // The umask is set by sh for the child; the arguments stay an argument vector.
    const r = await run('sh', ['-c', `umask ${VARIED_ENV.umask}; exec "$@"`, 'sh', process.execPath, ...args], {
      cwd: dir,
      env: { TZ: VARIED_ENV.TZ, LC_ALL: VARIED_ENV.LC_ALL, LANG: VARIED_ENV.LANG },
      onStdoutLine: (line) => {
        try {
          const e = JSON.parse(line) as BuildEvent;
          if ('stage' in e && e.event !== 'progress') opts.report({ ...e, stage: `second build: ${e.stage}` });
        } catch {
          /* not an event line */
        }
      },
    });
    const done = r.stdout
      .split('\n')
      .map((l) => {
        try {
          return JSON.parse(l) as BuildEvent;
        } catch {
          return undefined;
        }
      })
      .find((e): e is Extract<BuildEvent, { event: 'done' }> => e?.event === 'done');
    if (!done) throw new KilnError('the second build printed no result');
    return {
      first: opts.first.image.sha256,
      second: done.sha256,
      same: done.sha256 === opts.first.image.sha256,
      env: `TZ=${VARIED_ENV.TZ} LC_ALL=${VARIED_ENV.LC_ALL} umask ${VARIED_ENV.umask}, in ${dir}`,
      dir,
    };
  } finally {
    await rm(join(dir, 'out'), { recursive: true, force: true });
  }
}
