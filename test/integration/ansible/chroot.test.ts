import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { run, tail } from '../../../src/util/exec.js';
import { changedTasks, parseRecap, type Recap } from './recap.js';
import { asAfterFirstBoot, emulation, workingCopy } from './rootfs.js';

// The roles run for real against a root filesystem through Ansible's chroot connection: check
// mode first (must not fail), then twice for real, where the second run must change nothing.
// Needs root (chroot) and community.general (in Debian's `ansible` package).

const ansibleDir = resolve(import.meta.dirname, '../../../ansible');
let rootfs = '';
let cleanup = (): void => {};

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
  if (r.exitCode !== 0) throw new Error(`ansible-playbook ${file} ${extra.join(' ')} exited ${String(r.exitCode)}:\n${tail(r.stdout, 40)}\n${tail(r.stderr, 10)}`);
  return { recap: parseRecap(r.stdout), stdout: r.stdout };
}

function inventory(group: 'server' | 'agent'): string {
  const file = join(rootfs, '..', `inventory-${group}.yml`);
  const other = group === 'server' ? 'agent' : 'server';
  // One host, the rootfs; chroot connection. k3s_server_url is only read by agents and joiners.
  writeFileSync(file, [
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
  ].join('\n'));
  return file;
}

/** A check-mode run, then twice for real; the second must change nothing. */
async function idempotent(file: string, inv: string, extra: string[] = []): Promise<void> {
  const dry = await playbook(file, inv, ['--check', ...extra]);
  expect(dry.recap.failed + dry.recap.unreachable, dry.stdout).toBe(0);
  const first = await playbook(file, inv, extra);
  expect(first.recap.failed + first.recap.unreachable, first.stdout).toBe(0);
  const second = await playbook(file, inv, extra);
  expect(second.recap.failed, second.stdout).toBe(0);
  expect(changedTasks(second.stdout), 'tasks that changed on the second run').toEqual([]);
  expect(second.recap.changed).toBe(0);
}

// chroot(2) needs root; CI and the dev machines run tests as root (DESIGN.md), so this skips
// only on a workstation run as a user.
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('ansible roles against a root filesystem (chroot connection)', () => {
  beforeAll(async () => {
    let source: string;
    ({ rootfs, source, cleanup } = await workingCopy());
    console.log(`ansible chroot tests against ${source}`);
    asAfterFirstBoot(rootfs);
  });
  afterAll(() => cleanup());

  // Each playbook run costs minutes with the node's Python under qemu-user, so the baseline roles
  // are checked through site.yml, whose first play is the baseline: check mode, then twice.
  it('site as a k3s server, baseline included: check mode, then real runs with changed=0 the second time', async () => {
    const git = ['-e', 'kiln_flux_git_url=https://git.example.invalid/fleet.git'];
    await idempotent('site.yml', inventory('server'), git);
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
    const wants = await run('chroot', [rootfs, 'systemctl', 'is-enabled', 'k3s.service'], { env: emulation });
    expect(wants.stdout.trim()).toBe('enabled');
  });

  // One run only: each costs minutes under emulation. Idempotence was shown above for the server
  // role, whose tasks the agent role mirrors (config, node.env, units through common/unit.yml).
  it('site as a k3s agent: switches units and config', async () => {
    const r = await playbook('site.yml', inventory('agent'));
    expect(r.recap.failed + r.recap.unreachable, r.stdout).toBe(0);
    const config = readFileSync(join(rootfs, 'etc/rancher/k3s/config.yaml'), 'utf8');
    expect(config).toMatch(/^server: https:\/\/192\.0\.2\.11:6443$/m);
    const agent = await run('chroot', [rootfs, 'systemctl', 'is-enabled', 'k3s-agent.service'], { env: emulation });
    expect(agent.stdout.trim()).toBe('enabled');
    // is-enabled exits non-zero for a disabled unit, so read the answer from the error.
    const server = await run('chroot', [rootfs, 'systemctl', 'is-enabled', 'k3s.service'], { env: emulation }).then((r) => r.stdout.trim(), () => 'disabled');
    expect(server).toBe('disabled');
  });

  it('baseline: turning unattended upgrades on is one change (or a clear failure without the package)', async () => {
    const on = ['-e', '{"common_unattended_upgrades": true}'];
    const first = await playbook('baseline.yml', inventory('server'), on).catch((e: unknown) => e);
    if (!existsSync(join(rootfs, 'usr/bin/unattended-upgrade'))) {
      // A kiln image without the package: the role must refuse rather than install it.
      expect(String(first)).toContain('unattended-upgrades is not installed');
      return;
    }
    expect(first).not.toBeInstanceOf(Error);
    expect((first as { recap: Recap }).recap.changed).toBe(1);
    const second = await playbook('baseline.yml', inventory('server'), on);
    expect(second.recap.changed).toBe(0);
    expect(readFileSync(join(rootfs, 'etc/apt/apt.conf.d/52kiln-auto-upgrades'), 'utf8')).toContain('Unattended-Upgrade "1"');
  });
});
