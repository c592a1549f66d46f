import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeConfig } from '../../../src/serve/config.js';
import { startService, type RunningService } from '../../../src/serve/service.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry } from '../../../src/serve/nodes/registry.js';
import { run } from '../../../src/util/exec.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { freeTcpPort } from '../../helpers/net.js';
import { compileKiln } from '../../helpers/kiln-process.js';

// The inventory as Ansible itself reads it, through ansible/inventory/kiln: once via `kiln
// inventory` (KILN_BIN), once via GET /api/inventory of a running service on loopback (KILN_URL).

const repo = process.cwd();
let work: string;
let entry: string;
let svc: RunningService | undefined;
let port: number;

interface AnsibleList {
  server: { hosts: string[] };
  agent: { hosts: string[] };
  _meta: { hostvars: Record<string, Record<string, unknown>> };
}

beforeAll(async () => {
  const c = await compileKiln();
  work = c.work;
  entry = c.entry;
  makeFixtureImages(join(work, 'dist'));
  const r = await openSqliteRegistry(join(work, 'state', 'kiln.db'));
  await r.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd', role: 'server', clusterInit: true }));
  await r.upsert(nodeInputSchema.parse({ name: 'pi-02', serial: '0badf00d' }));
  // the address pi-01 reported from with its own credential (a TFTP read would not bind it)
  await r.bindAddress('pi-01', '192.0.2.11');
  await r.close();
  port = await freeTcpPort();
  svc = await startService(
    parseServeConfig({
      stateDir: join(work, 'state'),
      imagesDir: join(work, 'dist'),
      templatesDir: join(repo, 'cloud-init'),
      listen: '127.0.0.1',
      httpPort: port,
      dhcp: false,
      tftp: false,
    }),
  );
}, 120_000);

afterAll(async () => {
  await svc?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function ansibleList(env: Record<string, string>): Promise<AnsibleList> {
  const r = await run('ansible-inventory', ['-i', join(repo, 'ansible/inventory/kiln'), '--list'], {
    env: { ...env, ANSIBLE_CONFIG: join(repo, 'ansible/ansible.cfg') },
    timeoutMs: 60_000,
  });
  return JSON.parse(r.stdout) as AnsibleList;
}

function check(inv: AnsibleList): void {
  expect(inv.server.hosts).toEqual(['pi-01']);
  expect(inv.agent.hosts).toEqual(['pi-02']);
  expect(inv._meta.hostvars['pi-01']).toMatchObject({ ansible_host: '192.0.2.11', kiln_serial: '1234abcd' });
  expect(inv._meta.hostvars['pi-02']).toMatchObject({ k3s_server_url: 'https://192.0.2.11:6443' });
}

describe('Ansible script inventory', () => {
  it('reads `kiln inventory`', async () => {
    check(await ansibleList({ KILN_BIN: `${process.execPath} ${entry}`, KILN_STATE: join(work, 'state') }));
  });
  it('reads GET /api/inventory of a running kiln serve, with the API token', async () => {
    const token = readFileSync(join(work, 'state', 'api-token'), 'utf8').trim();
    check(await ansibleList({ KILN_URL: `http://127.0.0.1:${port}`, KILN_TOKEN: token }));
    // without it kiln answers nothing about the fleet, and the script says what to fix
    const r = await execa(join(repo, 'ansible/inventory/kiln'), ['--list'], { env: { KILN_URL: `http://127.0.0.1:${port}`, KILN_TOKEN: '' }, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/answered HTTP 401 \(check KILN_TOKEN\)/);
    expect(r.stdout).not.toContain('1234abcd');
  });
});
