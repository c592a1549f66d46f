import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { execa } from 'execa';
import { run, tail } from '../../../src/util/exec.js';
import { changedTasks, parseRecap, tasksWith, type Recap } from './recap.js';
import { asAfterFirstBoot, cloneTree, emulation, workingCopies, type WorkingCopies } from './rootfs.js';

// The roles run for real against root filesystems through Ansible's chroot connection: check
// mode (must not fail), then twice for real, where the second run must change nothing; as a k3s
// server and as an agent. Needs root (chroot) and community.general (in Debian's `ansible` package).
//
// Each playbook run costs a minute or more of emulated Python, so runs that do not depend on each
// other go at the same time, each on its own copy of the tree (the tests are concurrent):
//   dry     check mode as a server, on a fresh tree
//   server  the server role for real, twice
//   agent   a copy of `server` after its first run, switched to agent, twice
//   upgrades  a copy of `server` after both runs, where baseline.yml turns unattended upgrades on

const ansibleDir = resolve(import.meta.dirname, '../../../ansible');
let copies: WorkingCopies<'dry' | 'server'> | undefined;
const git = ['-e', 'kiln_flux_git_url=https://git.example.invalid/fleet.git'];

async function playbook(file: string, inventory: string, extra: string[] = []): Promise<{ recap: Recap; stdout: string }> {
  // execa directly, not run(): Ansible reports task failures on stdout, which the error must show.
  const r = await execa('ansible-playbook', ['-i', inventory, file, ...extra], {
    cwd: ansibleDir,
    env: {
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      ANSIBLE_CONFIG: join(ansibleDir, 'ansible.cfg'),
      // The image ships no .pyc (they are not reproducible). Under qemu-user every module run would
      // then compile the stdlib it imports from source again (~15 s a task); letting the throwaway
      // copy cache bytecode makes that a one-time cost. Node drops undefined variables.
      PYTHONDONTWRITEBYTECODE: undefined,
      ...emulation,
    },
    timeout: 15 * 60_000,
    reject: false,
  });
  if (r.exitCode !== 0)
    throw new Error(`ansible-playbook ${file} ${extra.join(' ')} exited ${String(r.exitCode)}:\n${tail(r.stdout, 40)}\n${tail(r.stderr, 10)}`);
  return { recap: parseRecap(r.stdout), stdout: r.stdout };
}

function inventory(rootfs: string, group: 'server' | 'agent'): string {
  const file = join(dirname(rootfs), `inventory-${basename(rootfs)}-${group}.yml`);
  const other = group === 'server' ? 'agent' : 'server';
  // One host, the rootfs; chroot connection. k3s_server_url is only read by agents and joiners.
  writeFileSync(
    file,
    [
      'all:',
      '  vars:',
      '    ansible_connection: community.general.chroot',
      '    k3s_server_url: "https://192.0.2.11:6443"',
      '  children:',
      `    ${group}:`,
      '      hosts:',
      '        kiln-rootfs:',
      `          ansible_host: "${rootfs}"`,
      // As kiln's inventory marks the server that starts the cluster (src/serve/inventory.ts).
      ...(group === 'server' ? ['          kiln_cluster_init: true'] : []),
      `    ${other}:`,
      '      hosts: {}',
      '',
    ].join('\n'),
  );
  return file;
}

/** Started once, by the first test that needs it; the others wait for the same run. */
function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

function trees(): Record<'dry' | 'server', string> {
  if (!copies) throw new Error('no working copies (beforeAll failed)');
  return copies.trees;
}

const serverFirst = once(() => playbook('site.yml', inventory(trees().server, 'server'), git));
// Copied before the server's second run starts, so the copy never sees a run half done.
const agentTree = once(async () => {
  await serverFirst();
  return cloneTree(trees().server, 'agent');
});
const serverSecond = once(async () => {
  await agentTree();
  return playbook('site.yml', inventory(trees().server, 'server'), git);
});

async function isEnabled(rootfs: string, unit: string): Promise<string> {
  // is-enabled exits non-zero for a disabled unit, so read the answer from the error.
  return run('chroot', [rootfs, 'systemctl', 'is-enabled', unit], { env: emulation }).then(
    (r) => r.stdout.trim(),
    () => 'disabled',
  );
}

// chroot(2) needs root; CI and the dev machines run tests as root (README, "Requirements"), so this skips
// only on a workstation run as a user.
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('ansible roles against root filesystems (chroot connection)', () => {
  beforeAll(async () => {
    copies = await workingCopies(['dry', 'server'] as const);
    console.log(`ansible chroot tests against ${copies.source}`);
    for (const tree of Object.values(copies.trees)) asAfterFirstBoot(tree);
  });
  afterAll(() => copies?.cleanup());

  describe.concurrent('site.yml', () => {
    it('check mode as a k3s server, on a fresh tree: fails nothing and predicts what the real run changes', async ({ expect }) => {
      const [dry, first] = await Promise.all([playbook('site.yml', inventory(trees().dry, 'server'), ['--check', ...git]), serverFirst()]);
      expect(dry.recap.failed + dry.recap.unreachable, dry.stdout).toBe(0);
      // Both trees started identical. Check mode must report each change the real run makes,
      // except from the command tasks (systemctl enable) that check mode skips, and no other.
      const predicted = new Set(tasksWith(dry.stdout, 'changed'));
      const skipped = new Set(tasksWith(dry.stdout, 'skipping'));
      const made = new Set(changedTasks(first.stdout));
      expect(made.size).toBeGreaterThan(0);
      expect(
        [...predicted].filter((t) => !made.has(t)),
        'predicted but not made',
      ).toEqual([]);
      expect(
        [...made].filter((t) => !predicted.has(t) && !skipped.has(t)),
        'made but not predicted',
      ).toEqual([]);
    });

    it('site as a k3s server, baseline included: a real run, then a second that changes nothing', async ({ expect }) => {
      const first = await serverFirst();
      expect(first.recap.failed + first.recap.unreachable, first.stdout).toBe(0);
      const second = await serverSecond();
      expect(second.recap.failed, second.stdout).toBe(0);
      expect(changedTasks(second.stdout), 'tasks that changed on the second run').toEqual([]);
      expect(second.recap.changed).toBe(0);
      const rootfs = trees().server;
      const sshd = readFileSync(join(rootfs, 'etc/ssh/sshd_config.d/50-kiln.conf'), 'utf8');
      expect(sshd).toMatch(/^PasswordAuthentication no$/m);
      expect(readFileSync(join(rootfs, 'etc/systemd/journald.conf.d/50-kiln.conf'), 'utf8')).toMatch(/^SystemMaxUse=200M$/m);
      expect(readFileSync(join(rootfs, 'etc/apt/apt.conf.d/52kiln-auto-upgrades'), 'utf8')).toContain('Unattended-Upgrade "0"');
      const config = readFileSync(join(rootfs, 'etc/rancher/k3s/config.yaml'), 'utf8');
      expect(config).toMatch(/^write-kubeconfig-mode: '0600'$/m);
      // Same keys kiln's cloud-init writes for a cluster-init server, so Ansible never flips them.
      expect(config).toMatch(/^cluster-init: true$/m);
      expect(config).toMatch(/^node-name: kiln-rootfs$/m);
      expect(config).toMatch(/^token: kiln-test-token-not-a-secret$/m);
      const sync = readFileSync(join(rootfs, 'var/lib/rancher/k3s/server/manifests/kiln-flux-sync.yaml'), 'utf8');
      expect(sync).toContain('url: "https://git.example.invalid/fleet.git"');
      expect(sync).not.toContain('{{');
      expect(readFileSync(join(rootfs, 'etc/kiln/node.env'), 'utf8')).toMatch(/^KILN_ROLE=server$/m);
      expect(await isEnabled(rootfs, 'k3s.service')).toBe('enabled');
    });

    it('site as a k3s agent on a former server: switches units and config, then a second run changes nothing', async ({ expect }) => {
      const rootfs = await agentTree();
      const first = await playbook('site.yml', inventory(rootfs, 'agent'));
      expect(first.recap.failed + first.recap.unreachable, first.stdout).toBe(0);
      const config = readFileSync(join(rootfs, 'etc/rancher/k3s/config.yaml'), 'utf8');
      expect(config).toMatch(/^server: https:\/\/192\.0\.2\.11:6443$/m);
      expect(config).toMatch(/^token: kiln-test-token-not-a-secret$/m);
      expect(config).not.toMatch(/^cluster-init:/m);
      expect(readFileSync(join(rootfs, 'etc/kiln/node.env'), 'utf8')).toMatch(/^KILN_ROLE=agent$/m);
      expect(await isEnabled(rootfs, 'k3s-agent.service')).toBe('enabled');
      expect(await isEnabled(rootfs, 'k3s.service')).toBe('disabled');
      const second = await playbook('site.yml', inventory(rootfs, 'agent'));
      expect(second.recap.failed, second.stdout).toBe(0);
      expect(changedTasks(second.stdout), 'tasks that changed on the second run').toEqual([]);
      expect(second.recap.changed).toBe(0);
    });

    it('baseline: turning unattended upgrades on is one change (or a clear failure without the package)', async ({ expect }) => {
      // On its own copy of the converged server, so the server test reads its files undisturbed.
      await serverSecond();
      const rootfs = await cloneTree(trees().server, 'upgrades');
      const on = ['-e', '{"common_unattended_upgrades": true}'];
      const first = await playbook('baseline.yml', inventory(rootfs, 'server'), on).catch((e: unknown) => e);
      if (!existsSync(join(rootfs, 'usr/bin/unattended-upgrade'))) {
        // A kiln image without the package: the role must refuse rather than install it.
        expect(String(first)).toContain('unattended-upgrades is not installed');
        return;
      }
      expect(first).not.toBeInstanceOf(Error);
      expect((first as { recap: Recap }).recap.changed).toBe(1);
      const second = await playbook('baseline.yml', inventory(rootfs, 'server'), on);
      expect(second.recap.changed).toBe(0);
      expect(readFileSync(join(rootfs, 'etc/apt/apt.conf.d/52kiln-auto-upgrades'), 'utf8')).toContain('Unattended-Upgrade "1"');
    });
  });
});
