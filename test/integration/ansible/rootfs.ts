import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from '../../../src/util/exec.js';
import { testImage, withRootMounted } from '../../helpers/images/test-image.js';

/*
 * Root filesystems to run the Ansible roles against through the chroot connection: by default the
 * root partition of the shared kiln test build (images/pi-k3s-test.yaml, arm64: Ansible's python
 * runs there through qemu-user binfmt), or KILN_TEST_ROOTFS, a directory holding another kiln
 * build's extracted rootfs. Either way the tests work on copies, so neither the build nor the
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

export interface WorkingCopies<N extends string> {
  trees: Record<N, string>;
  /** Where the trees came from, for the log. */
  source: string;
  /** Removes every tree, including those made later with cloneTree. */
  cleanup: () => void;
}

/** Throwaway copies of the rootfs, one per name, to change freely. */
export async function workingCopies<N extends string>(names: readonly N[]): Promise<WorkingCopies<N>> {
  const work = mkdtempSync(join(tmpdir(), 'kiln-ansible-'));
  const cleanup = (): void => rmSync(work, { recursive: true, force: true });
  const trees = Object.fromEntries(names.map((n) => [n, join(work, n)])) as Record<N, string>;
  const all = Object.values<string>(trees);
  try {
    const fromEnv = process.env.KILN_TEST_ROOTFS;
    let source: string;
    if (fromEnv) {
      source = fromEnv;
      await Promise.all(all.map((to) => run('cp', ['-a', '--reflink=auto', fromEnv, to])));
    } else {
      const t = await testImage();
      source = `${t.img} (partition 2)`;
      // One mount for all copies: withRootMounted's mount point is per process.
      await withRootMounted(t, (root) =>
        Promise.all(
          all.map((to) => {
            mkdirSync(to);
            return run('cp', ['-a', `${root}/.`, `${to}/`]);
          }),
        ),
      );
    }
    if (!existsSync(join(all[0] ?? work, 'usr/bin/python3'))) throw new Error(`${source} has no /usr/bin/python3: Ansible cannot run modules there`);
    return { trees, source, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** A copy of a tree as the tests left it, next to it (so its cleanup removes the copy too). */
export async function cloneTree(from: string, name: string): Promise<string> {
  const to = join(dirname(from), name);
  await run('cp', ['-a', '--reflink=auto', from, to]);
  return to;
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
