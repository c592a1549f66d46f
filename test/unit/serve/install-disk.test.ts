import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { parseNodesYaml } from '../../../src/serve/nodes/yaml.js';
import { renderCmdline, renderPxelinux, UBOOT_APPEND_MAX, type RenderContext } from '../../../src/serve/plan/bootfiles.js';
import { must } from '../../helpers/must.js';
import { fakeImage, fakeNode, realisticImage } from '../../helpers/fakes.js';
import { kilnWithState } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tmp.js';

// The per-node install disk: operator input (CLI, API, nodes.yaml) → registry → `kiln.disk=` on
// the installer's kernel command line, which init.sh's choose_disk reads. The disk in the registry,
// nodes.yaml and the API run on every store in test/shared/registry-suite.ts; here the pure parts,
// an older SQLite file and the CLI (whose default store is SQLite).

const base = { name: 'pi-01', mac: 'dc:a6:32:01:02:03' };
const diskOf = (disk: unknown) => nodeInputSchema.safeParse({ ...base, disk });
const firstIssue = (disk: unknown): string => {
  const r = diskOf(disk);
  if (r.success) throw new Error(`disk ${JSON.stringify(disk)} was accepted`);
  const i = must(r.error.issues[0], `an issue for disk ${JSON.stringify(disk)}`);
  return `${i.path.join('.')}: ${i.message}`;
};

describe('disk in the node schema', () => {
  it('accepts what choose_disk accepts, stored without /dev/', async () => {
    for (const [given, stored] of [
      ['mmcblk0', 'mmcblk0'],
      ['nvme0n1', 'nvme0n1'],
      ['sda', 'sda'],
      ['/dev/sda', 'sda'],
      ['/dev/mmcblk1', 'mmcblk1'],
      ['vda', 'vda'],
      ['dm-0', 'dm-0'],
    ]) {
      const r = diskOf(given);
      expect(r.success, given).toBe(true);
      expect(r.data?.disk).toBe(stored);
    }
    expect(diskOf(undefined).data?.disk).toBeUndefined();
  });

  it('refuses anything that could change the kernel command line or that /sys/block cannot have', async () => {
    for (const bad of [
      'sda quiet',
      'sda\tinit=/bin/sh',
      '../sda',
      '/dev/../sda',
      'disk/by-id/usb-x',
      '/dev/disk/by-id/usb-x',
      'sda;reboot',
      '$(reboot)',
      '`id`',
      'sd"a',
      "sd'a",
      'sda\n',
      'SDA',
      '',
      '/dev/',
      '0sda',
      'a'.repeat(32),
    ]) {
      expect(firstIssue(bad), JSON.stringify(bad)).toMatch(/^disk: must be a block device name like mmcblk0/);
    }
    expect(firstIssue(7)).toMatch(/^disk: /);
  });

  it('refuses a partition with a message that says so', async () => {
    for (const part of ['sda1', '/dev/sdb2', 'mmcblk0p1', 'nvme0n1p2', 'vda1'])
      expect(firstIssue(part), part).toMatch(/^disk: is a partition: name the whole disk/);
  });
});

describe('kiln.disk= on the installer command line', () => {
  const img = fakeImage({ installerDir: '/srv/dist/fixture/installer', ubootCmdline: 'root=PARTUUID=abcdef01-02 rootwait console=ttyAMA0,115200' });
  const ctx: RenderContext = { httpBase: 'http://10.0.0.1:8080', installToken: 'f'.repeat(64) };

  it('is there only when the node names a disk', async () => {
    expect(renderCmdline(fakeNode({ disk: 'nvme0n1' }), img, ctx).split(' ')).toContain('kiln.disk=nvme0n1');
    expect(renderPxelinux(fakeNode({ disk: 'sda' }), img, ctx)).toMatch(/^ {2}append .* kiln\.disk=sda( |$)/m);
    for (const n of [fakeNode(), fakeNode({ disk: null })]) {
      expect(renderCmdline(n, img, ctx)).not.toContain('kiln.disk');
      expect(renderPxelinux(n, img, ctx)).not.toContain('kiln.disk');
    }
  });

  it('is dropped from the image arguments and not rendered without an installer (the image boots its own root)', async () => {
    const plain = fakeImage({ cmdline: `${img.cmdline} kiln.disk=mmcblk9` });
    expect(renderCmdline(fakeNode({ disk: 'sda' }), plain, ctx)).not.toContain('kiln.disk');
    expect(renderCmdline(fakeNode(), { ...img, cmdline: 'console=tty1 kiln.disk=mmcblk9' }, ctx)).not.toContain('kiln.disk');
  });

  it('costs only its own bytes and keeps a realistic U-Boot append within UBOOT_APPEND_MAX', async () => {
    // the same realistic node and image as the length test in plan/bootfiles.test.ts, now naming its disk
    const real = realisticImage();
    const realCtx: RenderContext = { httpBase: 'http://192.168.100.200:8080', installToken: 'f'.repeat(64) };
    const append = (disk: string | null): string =>
      must(/append (.*)/.exec(renderPxelinux(fakeNode({ name: 'worker-node-0017', disk }), real, realCtx))?.[1], 'the append line of the pxelinux config');
    for (const given of ['/dev/nvme0n1', 'mmcblk0', 'sda']) {
      const disk = must(nodeInputSchema.parse({ ...base, disk: given }).disk, `the parsed disk of ${given}`);
      expect(append(disk)).toContain(` kiln.disk=${disk} `);
      expect(append(disk).length).toBe(append(null).length + ' kiln.disk='.length + disk.length);
      expect(append(disk).length, given).toBeLessThanOrEqual(UBOOT_APPEND_MAX);
    }
  });
});

/** The nodes table as the first release made it: no self_heal, parked or disk column. */
const OLD_SCHEMA = `
CREATE TABLE nodes (
  name TEXT PRIMARY KEY, serial TEXT UNIQUE, mac TEXT UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('server','agent')), image TEXT,
  plan TEXT NOT NULL CHECK (plan IN ('install','local','discovered')), state TEXT NOT NULL,
  ssh_keys TEXT NOT NULL DEFAULT '[]', cluster_init INTEGER NOT NULL DEFAULT 0, ip TEXT, last_seen TEXT,
  source TEXT NOT NULL DEFAULT 'db', report_token TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, type TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}');
INSERT INTO nodes (name, mac, role, plan, state, report_token, created_at)
  VALUES ('old-01', 'dc:a6:32:00:00:01', 'agent', 'local', 'joined', '${'e'.repeat(64)}', '2024-01-01T00:00:00.000Z');
INSERT INTO events (node, type, at) VALUES ('old-01', 'registered', '2024-01-01T00:00:00.000Z');
`;

describe('disk in the registry', () => {
  it('migrates a database made before the column (and before self_heal and parked)', async () => {
    const file = join(tempDir('install-disk'), 'kiln.db');
    const old = new Database(file);
    old.exec(OLD_SCHEMA);
    old.close();
    let r = await openSqliteRegistry(file);
    expect(await r.mustGet('old-01')).toMatchObject({ disk: null, selfHeal: true, parked: null, plan: 'local', state: 'joined' });
    // the report token the node already holds from its seed becomes its credential, kept hashed
    expect(await r.hasCredential('old-01', 'e'.repeat(64))).toBe(true);
    expect(await r.hasCredential('old-01', 'f'.repeat(64))).toBe(false);
    await r.close();
    expect(readFileSync(file).includes(Buffer.from('e'.repeat(64)))).toBe(false);
    r = await openSqliteRegistry(file);
    expect((await r.upsert(nodeInputSchema.parse({ name: 'old-01', mac: 'dc:a6:32:00:00:01', disk: 'mmcblk0' }))).disk).toBe('mmcblk0');
    await r.close();
    // opening it again finds the columns already there
    const again = await openSqliteRegistry(file);
    expect((await again.mustGet('old-01')).disk).toBe('mmcblk0');
    await again.close();
  });
});

describe('disk in nodes.yaml', () => {
  it('takes a per-node disk and a fleet default, the node winning; names the bad field', async () => {
    const nodes = parseNodesYaml(
      'defaults: {disk: /dev/nvme0n1}\nnodes:\n  - {name: pi-01, serial: 1234abcd}\n  - {name: pi-02, serial: 1234abce, disk: mmcblk0}\n',
    );
    expect(nodes.map((n) => n.disk)).toEqual(['nvme0n1', 'mmcblk0']);
    expect(() => parseNodesYaml('nodes:\n  - {name: pi-01, serial: 1234abcd}\n  - {name: pi-02, serial: 1234abce, disk: "sda quiet"}\n')).toThrow(
      /nodes\[1\] \(pi-02\): disk: must be a block device name/,
    );
    expect(() => parseNodesYaml('defaults: {disk: sda1}\nnodes: []\n')).toThrow(/defaults\.disk: is a partition/);
  });
});

describe('kiln node add --disk / node show', () => {
  it('stores the disk, shows it, and names the field when it is refused', async () => {
    const state = join(tempDir('install-disk'), 'state');
    await kilnWithState(state, 'node', 'add', 'pi-01', '--mac', base.mac, '--disk', '/dev/nvme0n1');
    expect(await kilnWithState(state, 'node', 'show', 'pi-01')).toMatch(/^disk: nvme0n1$/m);
    const shown = JSON.parse(await kilnWithState(state, 'node', 'show', 'pi-01', '--json')) as { node: { disk: string | null } };
    expect(shown.node.disk).toBe('nvme0n1');
    await expect(kilnWithState(state, 'node', 'add', 'pi-01', '--mac', base.mac, '--disk', 'sda; reboot')).rejects.toThrow(
      /^disk: must be a block device name/,
    );
    await kilnWithState(state, 'node', 'add', 'pi-01', '--mac', base.mac);
    expect(await kilnWithState(state, 'node', 'show', 'pi-01')).toMatch(/^disk: null$/m);
  });
});
