import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { parseNodesYaml, syncNodesFile } from '../../../src/serve/nodes/yaml.js';
import { kilnWithState } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

const yaml = (...entries: string[]): string => `nodes:\n${entries.map((e) => `  - ${e}\n`).join('')}`;

/** The message the parser throws, so a test can compare it whole. */
function refusal(text: string, file?: string): string {
  try {
    parseNodesYaml(text, file);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('nodes.yaml messages', () => {
  it('tells the operator to quote a serial YAML read as a number, naming file, entry and field', async () => {
    const text = yaml(
      '{name: pi-01, serial: 1234abcd}',
      '{name: pi-02, serial: 1234abce}',
      '{name: pi-03, serial: 0badf00d}',
      '{name: pi-04, serial: 11112222}',
    );
    expect(refusal(text, '/srv/fleet/nodes.yaml')).toBe(
      '/srv/fleet/nodes.yaml: nodes[3] (pi-04): serial: YAML read 11112222 as a number; write it in quotes: serial: "11112222"',
    );
  });

  it('shows what a float-looking serial was written as, though YAML turned it into something else', async () => {
    expect(refusal(yaml('{name: pi-01, serial: 1234e567}'))).toBe(
      'nodes.yaml: nodes[0] (pi-01): serial: YAML read 1234e567 as a number (it became Infinity); write it in quotes: serial: "1234e567"',
    );
    expect(refusal('nodes:\n  - name: pi-01\n    serial: 0x1234abcd\n')).toBe(
      'nodes.yaml: nodes[0] (pi-01): serial: YAML read 0x1234abcd as a number (it became 305441741); write it in quotes: serial: "0x1234abcd"',
    );
    // quoted, the same text is a serial (0x and case are normalised)
    expect(parseNodesYaml(yaml('{name: pi-01, serial: "0x1234ABCD"}'))[0]?.serial).toBe('1234abcd');
    expect(parseNodesYaml(yaml('{name: pi-01, serial: "11112222"}'))[0]?.serial).toBe('11112222');
  });

  it('gives the same hint for a name or MAC that YAML read as a number', async () => {
    expect(refusal(yaml('{name: 1234, serial: 1234abcd}'))).toBe('nodes.yaml: nodes[0]: name: YAML read 1234 as a number; write it in quotes: name: "1234"');
    expect(refusal(yaml('{name: pi-01, mac: 123456789012}'))).toMatch(
      /^nodes\.yaml: nodes\[0\] \(pi-01\): mac: YAML read 123456789012 as a number; write it in quotes: mac: "123456789012"$/,
    );
  });

  it('names the entry for ordinary schema errors too', async () => {
    expect(refusal(yaml('{name: pi-01, serial: 1234abcd}', '{name: pi-02, mac: nope}'))).toMatch(
      /^nodes\.yaml: nodes\[1\] \(pi-02\): mac: must be a MAC address/,
    );
    expect(refusal(yaml('{name: Bad_Name, serial: 1234abcd}'))).toMatch(/^nodes\.yaml: nodes\[0\] \(Bad_Name\): name: must be a DNS label/);
    expect(refusal(yaml('{name: pi-01, serial: 1234abcd, sshKeys: [nope]}'))).toMatch(/^nodes\.yaml: nodes\[0\] \(pi-01\): sshKeys\[0\]: must be one OpenSSH/);
    expect(refusal('defaults: {image: 2024}\nnodes: []\n')).toBe('nodes.yaml: defaults.image: YAML read 2024 as a number; write it in quotes: image: "2024"');
  });

  it('names both entries when a serial, MAC or name is declared twice', async () => {
    expect(refusal(yaml('{name: pi-01, serial: 1234abcd}', '{name: pi-02, serial: 0badf00d}', '{name: pi-03, serial: "1234ABCD"}'))).toBe(
      'nodes.yaml: nodes[2] (pi-03): serial: 1234abcd is also the serial of nodes[0] (pi-01); each node must have its own',
    );
    expect(refusal(yaml('{name: pi-01, mac: "dc:a6:32:00:00:01"}', '{name: pi-02, mac: "DC-A6-32-00-00-01"}'))).toBe(
      'nodes.yaml: nodes[1] (pi-02): mac: dc:a6:32:00:00:01 is also the mac of nodes[0] (pi-01); each node must have its own',
    );
    expect(refusal(yaml('{name: pi-01, serial: 1234abcd}', '{name: pi-01, serial: 0badf00d}'))).toBe(
      'nodes.yaml: nodes[1] (pi-01): name: pi-01 is also the name of nodes[0] (pi-01); each node must have its own',
    );
  });

  it('names the file and the entry when an entry clashes with a node added outside the file', async () => {
    const d = tempDir('nodes-yaml');
    const r = await openSqliteRegistry(join(d, 'kiln.db'));
    await r.upsert(nodeInputSchema.parse({ name: 'lab-07', serial: '1234abcd' }));
    const f = join(d, 'nodes.yaml');
    writeFileSync(f, yaml('{name: pi-01, mac: "dc:a6:32:00:00:01"}', '{name: pi-02, serial: 1234abcd}'));
    await expect(syncNodesFile(r, f)).rejects.toThrow(
      `${f}: nodes[1] (pi-02): serial: 1234abcd already belongs to node lab-07 in the registry (added with kiln node add or the API, or discovered); remove that node (kiln node remove lab-07) or change this entry`,
    );
    // all or nothing: pi-01 was not applied either
    expect((await r.list()).map((n) => n.name)).toEqual(['lab-07']);
    await r.close();
  });
});

describe('nodes dropped from nodes.yaml', () => {
  it('are removed at the next sync, with a removed event saying why, and answered no more', async () => {
    const d = tempDir('nodes-yaml');
    const r = await openSqliteRegistry(join(d, 'kiln.db'));
    await r.upsert(nodeInputSchema.parse({ name: 'by-hand', mac: 'dc:a6:32:00:00:09' }));
    const f = join(d, 'nodes.yaml');
    writeFileSync(f, yaml('{name: pi-01, serial: 1234abcd}', '{name: pi-02, mac: "dc:a6:32:00:00:02"}'));
    expect(await syncNodesFile(r, f)).toEqual({ applied: ['pi-01', 'pi-02'], removed: [] });
    writeFileSync(f, yaml('{name: pi-01, serial: 1234abcd}'));
    expect(await syncNodesFile(r, f)).toEqual({ applied: ['pi-01'], removed: ['pi-02'] });
    expect((await r.list()).map((n) => n.name)).toEqual(['by-hand', 'pi-01']);
    expect(await r.find('dc:a6:32:00:00:02')).toBeUndefined();
    expect((await r.events({ node: 'pi-02' })).map((e) => [e.type, e.data])).toEqual([
      ['registered', { source: 'yaml' }],
      ['removed', { source: 'yaml', reason: 'dropped from nodes.yaml' }],
    ]);
    // a node added by hand is not the file's to remove
    expect(await r.get('by-hand')).toBeDefined();
    await r.close();
  });

  it('lets a node renamed in the file keep its serial, in one transaction with the rest', async () => {
    const d = tempDir('nodes-yaml');
    const r = await openSqliteRegistry(join(d, 'kiln.db'));
    const f = join(d, 'nodes.yaml');
    writeFileSync(f, yaml('{name: pi-01, serial: 1234abcd}', '{name: pi-02, serial: 0badf00d}'));
    await syncNodesFile(r, f);
    writeFileSync(f, yaml('{name: rack1-01, serial: 1234abcd}'));
    expect(await syncNodesFile(r, f)).toEqual({ applied: ['rack1-01'], removed: ['pi-01', 'pi-02'] });
    expect((await r.bySerial('1234abcd'))?.name).toBe('rack1-01');
    // a file that fails later on removes nothing
    writeFileSync(f, yaml('{name: rack1-02, serial: 0badf00d}', '{name: bad, mac: nope}'));
    await expect(syncNodesFile(r, f)).rejects.toThrow(/nodes\[1\] \(bad\): mac/);
    expect((await r.list()).map((n) => n.name)).toEqual(['rack1-01']);
    await r.close();
  });

  it('kiln node remove of a declared node says how to remove it', async () => {
    const d = tempDir('nodes-yaml');
    const state = join(d, 'state');
    const r = await openSqliteRegistry(join(state, 'kiln.db'));
    const f = join(d, 'nodes.yaml');
    writeFileSync(f, yaml('{name: pi-01, serial: 1234abcd}'));
    await syncNodesFile(r, f);
    await r.close();
    await expect(kilnWithState(state, 'node', 'remove', 'pi-01')).rejects.toThrow(
      /delete its entry there and reload kiln serve \(SIGHUP or restart\), which removes it/,
    );
  });
});
