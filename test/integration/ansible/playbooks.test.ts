import { writeFileSync, chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInventory } from '../../../src/serve/inventory.js';
import type { NodeRecord } from '../../../src/serve/nodes/model.js';
import { run, ToolError } from '../../../src/util/exec.js';
import { tempDir } from '../../helpers/tmp.js';

// Static checks of ansible/ (syntax, lint) and the kiln script inventory, with no node needed.
const ansibleDir = resolve(import.meta.dirname, '../../../ansible');
const env = { ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_CONFIG: join(ansibleDir, 'ansible.cfg') };
const inventoryScript = join(ansibleDir, 'inventory/kiln');

const fleet = {
  server: { hosts: ['pi-01'] },
  agent: { hosts: ['pi-02', 'pi-03'] },
  _meta: { hostvars: { 'pi-01': { ansible_host: '192.0.2.11' }, 'pi-02': { ansible_host: '192.0.2.12' }, 'pi-03': { ansible_host: '192.0.2.13' } } },
};

const hasLint = await run('ansible-lint', ['--version']).then(
  () => true,
  () => false,
);

describe('ansible/ static checks', () => {
  it.each(['site.yml', 'baseline.yml', 'reprovision.yml'])('%s passes --syntax-check', async (file) => {
    await run('ansible-playbook', ['--syntax-check', '-i', 'inventory/sample.yml', file], { cwd: ansibleDir, env });
  });

  it.skipIf(!hasLint)('passes ansible-lint (production profile)', async () => {
    const r = await run('ansible-lint', ['-p', '--nocolor'], { cwd: ansibleDir, env });
    expect(r.stdout + r.stderr).toMatch(/Passed with production profile: 0 failure\(s\), 0 warning\(s\)/);
  });

  it('the static sample inventory has the server and agent groups', async () => {
    const r = await run('ansible-inventory', ['-i', 'inventory/sample.yml', '--list'], { cwd: ansibleDir, env });
    const data = JSON.parse(r.stdout) as Record<string, { hosts?: string[] }>;
    expect(data.server?.hosts).toEqual(['pi-01']);
    expect(data.agent?.hosts).toEqual(['pi-02', 'pi-03']);
  });

  it('reprovision refuses without the confirmation variable', async () => {
    // Check mode, no kiln command, and the wipe tasks skip in check mode: even a broken guard
    // would not touch this machine.
    const r = await execa('ansible-playbook', ['-i', 'pi-09,', '-c', 'local', '--check', '-e', '{"reprovision_kiln_command": []}', 'reprovision.yml'], {
      cwd: ansibleDir,
      env,
      reject: false,
    });
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toContain('Not reprovisioning pi-09: pass -e confirm_reprovision=pi-09');
  });
});

describe('ansible/inventory/kiln', () => {
  let dir: string;
  let server: Server;
  let url = '';

  beforeAll(async () => {
    dir = tempDir('inventory');
    server = createServer((req, res) => {
      if (req.url !== '/api/inventory') return void res.writeHead(404).end();
      if (req.headers.authorization !== 'Bearer s3cret') return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fleet));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  let n = 0;
  function script(body: string): string {
    const file = join(dir, `kiln-${++n}`);
    writeFileSync(file, `#!/bin/sh\n[ "$1" = inventory ] || { echo "unexpected args: $*" >&2; exit 9; }\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  }
  /** A stand-in for `kiln inventory` that prints `body`. */
  function fakeKiln(body: string): string {
    return script(`cat <<'JSON'\n${body}\nJSON`);
  }

  it('--list runs `kiln inventory` (KILN_BIN)', async () => {
    const r = await run(inventoryScript, ['--list'], { env: { KILN_BIN: fakeKiln(JSON.stringify(fleet)), KILN_URL: '' } });
    expect(JSON.parse(r.stdout)).toEqual(fleet);
  });

  it("--host returns one host's variables, {} for an unknown host", async () => {
    const kiln = fakeKiln(JSON.stringify(fleet));
    expect(JSON.parse((await run(inventoryScript, ['--host', 'pi-02'], { env: { KILN_BIN: kiln, KILN_URL: '' } })).stdout)).toEqual({
      ansible_host: '192.0.2.12',
    });
    expect(JSON.parse((await run(inventoryScript, ['--host', 'nope'], { env: { KILN_BIN: kiln, KILN_URL: '' } })).stdout)).toEqual({});
  });

  it('fills in empty groups and _meta for an empty fleet', async () => {
    const r = await run(inventoryScript, ['--list'], { env: { KILN_BIN: fakeKiln('{}'), KILN_URL: '' } });
    expect(JSON.parse(r.stdout)).toEqual({ server: { hosts: [] }, agent: { hosts: [] }, _meta: { hostvars: {} } });
  });

  it('fetches $KILN_URL/api/inventory with the bearer token', async () => {
    const r = await run(inventoryScript, ['--list'], { env: { KILN_URL: url, KILN_TOKEN: 's3cret' } });
    expect(JSON.parse(r.stdout)).toEqual(fleet);
  });

  it.each([
    ['a wrong token', (): Record<string, string> => ({ KILN_URL: url, KILN_TOKEN: 'wrong' }), /HTTP 401 \(check KILN_TOKEN\)/],
    ['kiln failing', (): Record<string, string> => ({ KILN_BIN: script('echo boom >&2; exit 3'), KILN_URL: '' }), /exited 3: boom/],
    ['kiln printing non-JSON', (): Record<string, string> => ({ KILN_BIN: fakeKiln('not json'), KILN_URL: '' }), /did not return JSON/],
    ['a missing kiln', (): Record<string, string> => ({ KILN_BIN: '/nonexistent/kiln', KILN_URL: '' }), /not found \(set KILN_BIN/],
  ])('fails clearly on %s', async (_why, makeEnv, message) => {
    const err = await run(inventoryScript, ['--list'], { env: makeEnv() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).stderrTail).toMatch(message);
  });

  it("passes through what kiln's own inventory builder produces (the contract with src/serve)", async () => {
    const node = (name: string, role: 'server' | 'agent', clusterInit: boolean, ip: string): NodeRecord => ({
      name,
      role,
      clusterInit,
      ip,
      serial: null,
      mac: 'dc:a6:32:00:00:01',
      image: null,
      plan: 'local',
      state: 'joined',
      sshKeys: [],
      lastSeen: null,
      source: 'db',
    });
    const built = buildInventory([node('pi-01', 'server', true, '192.0.2.11'), node('pi-02', 'agent', false, '192.0.2.12')]);
    const kiln = fakeKiln(JSON.stringify(built));
    const r = await run('ansible-inventory', ['-i', inventoryScript, '--list'], { env: { ...env, KILN_BIN: kiln, KILN_URL: '' } });
    const data = JSON.parse(r.stdout) as {
      server: { hosts: string[] };
      agent: { hosts: string[] };
      _meta: { hostvars: Record<string, Record<string, unknown>> };
    };
    expect(data.server.hosts).toEqual(['pi-01']);
    expect(data.agent.hosts).toEqual(['pi-02']);
    // The variables the k3s roles read: kiln_cluster_init on the first server, k3s_server_url elsewhere.
    expect(data._meta.hostvars['pi-01']).toMatchObject({ ansible_host: '192.0.2.11', kiln_cluster_init: true });
    expect(data._meta.hostvars['pi-02']).toMatchObject({ ansible_host: '192.0.2.12', k3s_server_url: 'https://192.0.2.11:6443' });
  });

  it('works as an Ansible inventory source', async () => {
    const r = await run('ansible-inventory', ['-i', inventoryScript, '--graph'], { env: { ...env, KILN_BIN: fakeKiln(JSON.stringify(fleet)), KILN_URL: '' } });
    expect(r.stdout).toMatch(/@server:\n\s+\|\s+\|--pi-01/);
    expect(r.stdout).toMatch(/@agent:\n\s+\|\s+\|--pi-02\n\s+\|\s+\|--pi-03/);
  });
});
