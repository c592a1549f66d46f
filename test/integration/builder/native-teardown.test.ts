import { beforeAll, describe, expect, it } from 'vitest';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { must } from '../../helpers/must.js';
import { defaultCacheDir } from '../../../src/util/paths.js';
import { testImage, testImageSpec, type TestImage } from '../../helpers/images/test-image.js';

// The native rootfs mode mounts the amd64 tool root into the tree. Those mounts live in a private
// mount and PID namespace whose processes die with kiln: here a cold build is SIGKILLed once the
// essential set is being installed (the tool root mounted, dpkg running natively), and nothing of
// it may be left running; the host's mount table never sees the tool root at all.

const kiln = resolve('bin/kiln.js');
let t: TestImage;

beforeAll(async () => {
  t = await testImage();
});

async function processesMentioning(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(needle)) found.push(`${pid}: ${cmd.replaceAll('\0', ' ')}`);
  }
  return found;
}

describe('native rootfs teardown', () => {
  it('a SIGKILLed build leaves no process and no mount behind', async () => {
    const child = execa(
      process.execPath,
      [kiln, 'build', testImageSpec, '--lock', t.lock, '--out', join(defaultCacheDir(), 'tmp', 'killed'), '--no-stage-cache', '--json'],
      {
        reject: false,
        buffer: false,
      },
    );
    const marker = `.cold-${String(child.pid)}-`;
    await new Promise<void>((resolveWait, reject) => {
      let seen = '';
      child.stdout.on('data', (d: Buffer) => {
        seen += d.toString();
        if (seen.includes('installing essential packages')) resolveWait();
      });
      child.once('exit', () => reject(new Error(`the build ended before the essential set was installed:\n${seen.slice(-2000)}`)));
    });
    const running = await processesMentioning(marker);
    expect(running).not.toEqual([]);
    const workDirs = new Set(
      running.flatMap((c) => [...c.matchAll(/\/stages\/rootfs\/(\.work-[A-Za-z0-9]+)/g)].map((m) => must(m[1], `the work dir in ${m[0]}`))),
    );
    expect(await readFile('/proc/self/mounts', 'utf8')).not.toContain('.kiln-native');
    child.kill('SIGKILL');
    await child;
    let left: string[] = [];
    for (let i = 0; i < 50; i++) {
      left = await processesMentioning(marker);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(left).toEqual([]);
    expect(await readFile('/proc/self/mounts', 'utf8')).not.toContain(marker);
    // a SIGKILLed process cannot remove its work dirs; the test does
    for (const stage of ['rootfs', 'native-tools']) {
      const dir = join(defaultCacheDir(), 'stages', stage);
      for (const n of (await readdir(dir)).filter((n) => n.startsWith(marker) || workDirs.has(n))) await rm(join(dir, n), { recursive: true, force: true });
    }
  });
});
