import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { NodeRegistry, RegistryError } from '../../../src/serve/nodes/registry.js';
import { parseNodesYaml, syncNodesFile } from '../../../src/serve/nodes/yaml.js';

const dirs: string[] = [];
function registry(): NodeRegistry {
  const d = mkdtempSync(join(tmpdir(), 'kiln-reg-'));
  dirs.push(d);
  return new NodeRegistry(join(d, 'kiln.db'));
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const input = (o: Record<string, unknown>) => nodeInputSchema.parse({ name: 'pi-01', serial: '1234ABCD', ...o });

describe('NodeRegistry', () => {
  it('creates nodes with install plan, normalised identity and an event', () => {
    const r = registry();
    const n = r.upsert(input({ mac: 'DC-A6-32-01-02-03', role: 'server', clusterInit: true }));
    expect(n).toMatchObject({ serial: '1234abcd', mac: 'dc:a6:32:01:02:03', plan: 'install', state: 'registered' });
    expect(r.byPrefix('dc-a6-32-01-02-03')?.name).toBe('pi-01');
    expect(r.byPrefix('1234abcd')?.name).toBe('pi-01');
    expect(r.events({ node: 'pi-01' }).map((e) => e.type)).toEqual(['registered']);
    // a one-use install token for the installer, and no credential until it enrolls
    expect(r.installTokenFor('pi-01')).toMatch(/^[0-9a-f]{64}$/);
    expect(r.hasCredential('pi-01', '')).toBe(false);
  });

  it('refuses a serial or MAC already taken, leaving state unchanged', () => {
    const r = registry();
    r.upsert(input({}));
    expect(() => r.upsert(input({ name: 'pi-02' }))).toThrow(RegistryError);
    expect(r.list().map((n) => n.name)).toEqual(['pi-01']);
  });

  it('walks the install lifecycle through events and stops reinstalling once installed', () => {
    const r = registry();
    r.upsert(input({}));
    r.record('pi-01', 'install-started');
    expect(r.get('pi-01')?.state).toBe('installing');
    r.record('pi-01', 'installed');
    expect(r.get('pi-01')).toMatchObject({ state: 'installed', plan: 'local' });
    r.record('pi-01', 'first-boot');
    r.record('pi-01', 'k3s-joined');
    expect(r.get('pi-01')?.state).toBe('joined');
    r.reprovision('pi-01');
    expect(r.get('pi-01')).toMatchObject({ plan: 'install', state: 'registered' });
  });

  it('records a discovered Pi once and lets registration take it over', () => {
    const r = registry();
    r.recordDiscovered('dc:a6:32:09:09:09', 'cafe0001', '10.0.0.5');
    r.recordDiscovered('dc:a6:32:09:09:09', 'cafe0001', '10.0.0.5');
    expect(r.list()).toHaveLength(1);
    expect(r.get('pi-cafe0001')).toMatchObject({ plan: 'discovered', state: 'discovered' });
    r.upsert(nodeInputSchema.parse({ name: 'pi-07', serial: 'cafe0001' }));
    expect(r.list().map((n) => n.name)).toEqual(['pi-07']);
  });

  it('keeps the event log append-only', () => {
    const r = registry();
    r.upsert(input({}));
    r.remove('pi-01');
    expect(r.get('pi-01')).toBeUndefined();
    expect(r.events({ node: 'pi-01' }).map((e) => e.type)).toEqual(['registered', 'removed']);
  });
});

describe('nodes.yaml', () => {
  it('applies defaults and names the bad field', () => {
    const ok = parseNodesYaml('defaults: {image: fixture}\nnodes:\n  - {name: pi-01, serial: 1234abcd}\n');
    expect(ok[0]).toMatchObject({ name: 'pi-01', image: 'fixture', role: 'agent' });
    expect(() => parseNodesYaml('nodes:\n  - {name: pi-01, serial: 1234abcd}\n  - {name: pi-02, mac: nope}\n')).toThrow(
      /nodes\.1\.mac/,
    );
    expect(() => parseNodesYaml('nodes:\n  - {name: Bad_Name, serial: 1234abcd}\n')).toThrow(/nodes\.0\.name/);
    expect(() => parseNodesYaml('nodes:\n  - {name: pi-01, serial: 1234abcd, colour: red}\n')).toThrow(/nodes\.0/);
    expect(() => parseNodesYaml('nodez: []\n')).toThrow(/nodes/);
  });

  it('wins over the database for what it declares, all or nothing', async () => {
    const r = registry();
    r.upsert(input({ role: 'agent' }));
    const d = mkdtempSync(join(tmpdir(), 'kiln-yaml-'));
    dirs.push(d);
    const f = join(d, 'nodes.yaml');
    writeFileSync(f, 'nodes:\n  - {name: pi-01, serial: 1234abcd, role: server}\n');
    await syncNodesFile(r, f);
    expect(r.get('pi-01')).toMatchObject({ role: 'server', source: 'yaml', plan: 'install' });
    expect(() => r.upsert(input({ role: 'agent' }))).toThrow(/nodes.yaml/);
    // second entry clashes with the first's serial: nothing of the file is applied
    writeFileSync(f, 'nodes:\n  - {name: pi-01, serial: 1234abcd, role: agent}\n  - {name: pi-02, serial: 1234abcd}\n');
    await expect(syncNodesFile(r, f)).rejects.toThrow(/already belongs/);
    expect(r.get('pi-01')?.role).toBe('server');
  });
});

describe('identity learning', () => {
  it('fills a missing serial or MAC from DHCP, never one another node holds', () => {
    const r = registry();
    r.upsert(nodeInputSchema.parse({ name: 'by-mac', mac: 'dc:a6:32:00:00:01' }));
    r.upsert(nodeInputSchema.parse({ name: 'by-serial', serial: 'cafe0002' }));
    expect(r.learnIdentity('by-mac', 'dc:a6:32:00:00:01', 'cafe0001')).toBe(true);
    expect(r.byPrefix('cafe0001')?.name).toBe('by-mac');
    // the serial cafe0002 is taken: only the MAC is learned
    expect(r.learnIdentity('by-serial', 'dc:a6:32:00:00:02', 'cafe0002')).toBe(true);
    expect(r.byPrefix('dc-a6-32-00-00-02')?.name).toBe('by-serial');
    expect(r.learnIdentity('by-mac', 'dc:a6:32:00:00:01', 'cafe0002')).toBe(false);
    expect(r.get('by-mac')?.serial).toBe('cafe0001');
  });
});
