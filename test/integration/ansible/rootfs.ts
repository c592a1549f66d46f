import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir } from '../../../src/util/paths.js';
import { run } from '../../../src/util/exec.js';

/*
 * A root filesystem to run the Ansible roles against through the chroot connection.
 * KILN_TEST_ROOTFS points at a real kiln build's rootfs (an arm64 one runs its python through
 * qemu-user binfmt). Without it, a small Debian bookworm amd64 rootfs is made with mmdebstrap
 * (host architecture: no emulation, about a minute) and cached by its inputs. Either way the
 * tests work on a copy, so neither the build nor the cache is ever changed.
 */

// What the baseline roles configure, plus python3 for Ansible's modules. Changing this list
// changes the cache key.
export const ROOTFS_PACKAGES = ['python3', 'systemd', 'systemd-timesyncd', 'openssh-server', 'unattended-upgrades', 'ca-certificates'];
const SUITE = 'bookworm';
const ARCH = 'amd64';
const MIRROR = process.env.KILN_TEST_MIRROR ?? 'http://deb.debian.org/debian';

export async function cachedRootfs(): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify({ SUITE, ARCH, variant: 'apt', packages: ROOTFS_PACKAGES, MIRROR })).digest('hex').slice(0, 16);
  const dir = join(defaultCacheDir(), 'test-rootfs', `${SUITE}-${ARCH}-${key}`);
  const rootfs = join(dir, 'rootfs');
  if (existsSync(join(rootfs, 'usr/bin/python3'))) return rootfs;
  mkdirSync(dir, { recursive: true });
  // Build beside the final place and rename: an interrupted run never leaves a half rootfs.
  const partial = mkdtempSync(join(dir, 'partial-'));
  try {
    await run('mmdebstrap', [
      '--variant=apt', `--arch=${ARCH}`, '--mode=root', `--include=${ROOTFS_PACKAGES.join(',')}`,
      SUITE, join(partial, 'rootfs'), MIRROR,
    ], { timeoutMs: 20 * 60_000 });
    renameSync(join(partial, 'rootfs'), rootfs);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return rootfs;
}

/** A throwaway copy of the rootfs to change freely; `cleanup` removes it. */
export async function workingCopy(): Promise<{ rootfs: string; cleanup: () => void }> {
  const source = process.env.KILN_TEST_ROOTFS ?? (await cachedRootfs());
  if (!existsSync(join(source, 'usr/bin/python3'))) throw new Error(`${source} has no /usr/bin/python3: Ansible cannot run modules there`);
  const work = mkdtempSync(join(tmpdir(), 'kiln-ansible-'));
  const rootfs = join(work, 'rootfs');
  await run('cp', ['-a', '--reflink=auto', source, rootfs]);
  return { rootfs, cleanup: () => rmSync(work, { recursive: true, force: true }) };
}

/**
 * When the rootfs has no k3s (the Debian stand-in), add a FIXTURE in its place: a shell script
 * that only prints that it is a fixture, and the two unit files with the image's names. It lets
 * the k3s roles run; it is not k3s and nothing here treats it as k3s. The token is a test value.
 */
export function addK3sFixtureIfMissing(rootfs: string): boolean {
  const bin = join(rootfs, 'usr/local/bin/k3s');
  if (existsSync(bin)) return false;
  mkdirSync(join(rootfs, 'usr/local/bin'), { recursive: true });
  writeFileSync(bin, '#!/bin/sh\necho "kiln test fixture standing in for k3s: not k3s" >&2\nexit 1\n');
  chmodSync(bin, 0o755);
  for (const [unit, mode] of [['k3s.service', 'server'], ['k3s-agent.service', 'agent']] as const) {
    writeFileSync(
      join(rootfs, 'etc/systemd/system', unit),
      `[Unit]\nDescription=kiln test fixture (${mode})\n[Service]\nExecStart=/usr/local/bin/k3s ${mode}\n[Install]\nWantedBy=multi-user.target\n`,
    );
  }
  mkdirSync(join(rootfs, 'etc/rancher/k3s'), { recursive: true });
  // What cloud-init writes at first boot; the roles keep this token when k3s_token is unset.
  writeFileSync(join(rootfs, 'etc/rancher/k3s/config.yaml'), 'token: kiln-test-token-not-a-secret\n');
  return true;
}
