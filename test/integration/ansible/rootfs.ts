import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../src/util/exec.js';
import { testImage, withRootMounted } from '../shared/test-image.js';

/*
 * A root filesystem to run the Ansible roles against through the chroot connection: by default the
 * root partition of the shared kiln test build (images/pi-k3s-test.yaml, arm64: Ansible's python
 * runs there through qemu-user binfmt), or KILN_TEST_ROOTFS, a directory holding another kiln
 * build's extracted rootfs. Either way the tests work on a copy, so neither the build nor the
 * cache is ever changed.
 */

/**
 * Environment for every process that runs inside a tree. The trixie arm64 binaries are built with
 * branch protection, and QEMU's default CPU ("max") implements pointer authentication with the
 * architected QARMA algorithm, which TCG emulates slowly on every function entry and return: a
 * module run took three to five times as long. The Cortex-A72 is the Raspberry Pi 4's core; like
 * the Pi 3's A53 and the Pi 5's A76 it has no pointer authentication, so those instructions are
 * no-ops there, as they are on the fleet. Ignored on an arm64 host, where nothing is emulated.
 */
export const emulation = { QEMU_CPU: 'cortex-a72' };

/** A throwaway copy of the rootfs to change freely; `cleanup` removes it. */
export async function workingCopy(): Promise<{ rootfs: string; source: string; cleanup: () => void }> {
  const work = mkdtempSync(join(tmpdir(), 'kiln-ansible-'));
  const rootfs = join(work, 'rootfs');
  const cleanup = (): void => rmSync(work, { recursive: true, force: true });
  try {
    const fromEnv = process.env.KILN_TEST_ROOTFS;
    let source: string;
    if (fromEnv) {
      source = fromEnv;
      await run('cp', ['-a', '--reflink=auto', fromEnv, rootfs]);
    } else {
      const t = await testImage();
      source = `${t.img} (partition 2)`;
      mkdirSync(rootfs);
      await withRootMounted(t, (root) => run('cp', ['-a', `${root}/.`, `${rootfs}/`]));
    }
    if (!existsSync(join(rootfs, 'usr/bin/python3'))) throw new Error(`${source} has no /usr/bin/python3: Ansible cannot run modules there`);
    return { rootfs, source, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/**
 * What kiln's first boot leaves that the roles build on: cloud-init writes the node's k3s token
 * into /etc/rancher/k3s/config.yaml (the image carries none). The token here is a test value.
 */
export function asAfterFirstBoot(rootfs: string): void {
  const config = join(rootfs, 'etc/rancher/k3s/config.yaml');
  if (existsSync(config)) return;
  mkdirSync(join(rootfs, 'etc/rancher/k3s'), { recursive: true });
  writeFileSync(config, 'token: kiln-test-token-not-a-secret\n', { mode: 0o600 });
}
