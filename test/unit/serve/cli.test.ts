import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kilnCli } from './cli-runner.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});


describe('kiln node / kiln inventory', () => {
  it('adds, lists, shows, reprovisions, removes, and prints the inventory', async () => {
    const d = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
    dirs.push(d);
    const state = join(d, 'state');
    await kilnCli(state, 'node', 'add', 'pi-01', '--serial', '1234ABCD', '--role', 'server', '--cluster-init');
    await kilnCli(state, 'node', 'add', 'pi-02', '--mac', 'DC-A6-32-01-02-04', '--plan', 'local');
    expect(statSync(state).mode & 0o777).toBe(0o700);
    expect(statSync(join(state, 'kiln.db')).mode & 0o777).toBe(0o600);
    const list = JSON.parse(await kilnCli(state, 'node', 'list', '--json')) as { name: string; plan: string }[];
    expect(list.map((n) => [n.name, n.plan])).toEqual([
      ['pi-01', 'install'],
      ['pi-02', 'local'],
    ]);
    expect(await kilnCli(state, 'node', 'reprovision', 'pi-02')).toContain('plan install');
    const shown = JSON.parse(await kilnCli(state, 'node', 'show', 'pi-02', '--json')) as { events: { type: string }[] };
    expect(shown.events.map((e) => e.type)).toEqual(['registered', 'reprovision']);
    const inv = JSON.parse(await kilnCli(state, 'inventory', '--list')) as { server: { hosts: string[] }; _meta: { hostvars: Record<string, Record<string, unknown>> } };
    expect(inv.server.hosts).toEqual(['pi-01']);
    expect(inv._meta.hostvars['pi-02']?.k3s_server_url).toBe('https://pi-01:6443');
    await kilnCli(state, 'node', 'remove', 'pi-02');
    await expect(kilnCli(state, 'node', 'show', 'pi-02')).rejects.toThrow(/no node named pi-02/);
    await expect(kilnCli(state, 'node', 'add', 'pi-03', '--mac', 'nope')).rejects.toThrow(/^mac:/);
    await expect(kilnCli(state, 'node', 'add', 'pi-03')).rejects.toThrow(/serial or a mac/);
  });
});
