import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { registryPath } from '../../../src/serve/nodes/store/open.js';
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
    expect(await kilnWithState(state, 'node', 'park', 'pi-02', '--reason', 'bad card')).toContain('parked (bad card)');
    await expect(kilnWithState(state, 'node', 'park', 'pi-09')).rejects.toThrow(/pi-09/);
    expect(await kilnWithState(state, 'node', 'unpark', 'pi-02')).toContain('unparked; plan install');
    await expect(kilnWithState(state, 'node', 'unpark', 'pi-02')).rejects.toThrow(/not parked/);
    const parkedAndBack = JSON.parse(await kilnWithState(state, 'node', 'show', 'pi-02', '--json')) as {
      events: { type: string; data: Record<string, unknown> }[];
    };
    expect(parkedAndBack.events.slice(2).map((e) => [e.type, e.data.reason])).toEqual([
      ['parked', 'bad card'],
      ['unparked', 'bad card'],
    ]);
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

  it('shows the board model a netboot recorded: list, show and the inventory', async () => {
    const state = join(tempDir('cli'), 'state');
    await kilnWithState(state, 'node', 'add', 'pi-05', '--mac', 'dc:a6:32:01:02:05');
    await kilnWithState(state, 'node', 'add', 'pi-03', '--mac', 'b8:27:eb:01:02:03');
    // What the DHCP path writes when a Pi 5 8GB's DISCOVER carries its revision code (d04170).
    const r = await openSqliteRegistry(registryPath(state));
    await r.learnBoard('pi-05', { model: 'pi5', boardRevision: '00d04170' });
    await r.close();
    const rows = (await kilnWithState(state, 'node', 'list'))
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(rows.map((c) => [c[0], c[4]])).toEqual([
      ['NAME', 'MODEL'],
      ['pi-03', '-'],
      ['pi-05', 'pi5'],
    ]);
    const shown = await kilnWithState(state, 'node', 'show', 'pi-05');
    expect(shown).toContain('model: pi5\nboardRevision: 00d04170\n');
    expect(shown).toContain('board: Raspberry Pi 5 rev 1.0, 8GB, BCM2712, Sony UK\n');
    const json = JSON.parse(await kilnWithState(state, 'node', 'show', 'pi-05', '--json')) as { node: { model: string; boardRevision: string } };
    expect(json.node).toMatchObject({ model: 'pi5', boardRevision: '00d04170' });
    const inv = JSON.parse(await kilnWithState(state, 'inventory', '--list')) as { _meta: { hostvars: Record<string, Record<string, unknown>> } };
    expect(inv._meta.hostvars['pi-05']?.kiln_model).toBe('pi5');
    expect(inv._meta.hostvars['pi-03']).not.toHaveProperty('kiln_model');
  });
});
