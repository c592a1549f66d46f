import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kilnWithState } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

describe('kiln node / kiln inventory', () => {
  it('adds, lists, shows, reprovisions, removes, and prints the inventory', async () => {
    const d = tempDir('cli');
    const state = join(d, 'state');
    await kilnWithState(state, 'node', 'add', 'pi-01', '--serial', '1234ABCD', '--role', 'server', '--cluster-init');
    await kilnWithState(state, 'node', 'add', 'pi-02', '--mac', 'DC-A6-32-01-02-04', '--plan', 'local');
    expect(statSync(state).mode & 0o777).toBe(0o700);
    expect(statSync(join(state, 'kiln.db')).mode & 0o777).toBe(0o600);
    const list = JSON.parse(await kilnWithState(state, 'node', 'list', '--json')) as { name: string; plan: string }[];
    expect(list.map((n) => [n.name, n.plan])).toEqual([
      ['pi-01', 'install'],
      ['pi-02', 'local'],
    ]);
    expect(await kilnWithState(state, 'node', 'reprovision', 'pi-02')).toContain('plan install');
    const shown = JSON.parse(await kilnWithState(state, 'node', 'show', 'pi-02', '--json')) as { events: { type: string }[] };
    expect(shown.events.map((e) => e.type)).toEqual(['registered', 'reprovision']);
    const inv = JSON.parse(await kilnWithState(state, 'inventory', '--list')) as {
      server: { hosts: string[] };
      _meta: { hostvars: Record<string, Record<string, unknown>> };
    };
    expect(inv.server.hosts).toEqual(['pi-01']);
    expect(inv._meta.hostvars['pi-02']?.k3s_server_url).toBe('https://pi-01:6443');
    await kilnWithState(state, 'node', 'remove', 'pi-02');
    await expect(kilnWithState(state, 'node', 'show', 'pi-02')).rejects.toThrow(/no node named pi-02/);
    await expect(kilnWithState(state, 'node', 'add', 'pi-03', '--mac', 'nope')).rejects.toThrow(/^mac:/);
    await expect(kilnWithState(state, 'node', 'add', 'pi-03')).rejects.toThrow(/serial or a mac/);
  });
});
