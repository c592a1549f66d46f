import { execa } from 'execa';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pgClient from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/util/exec.js';
import { FIXTURE_IMAGE, makeFixtureImages } from '../../helpers/images/serve-images.js';
import { KilnProcess, compileKiln } from '../../helpers/kiln-process.js';
import { must } from '../../helpers/must.js';
import { freeTcpPort, sleep } from '../../helpers/net.js';
import { type PgServer, startPostgres } from '../../helpers/postgres.js';
import { NsAgent, compileAgent } from './agent.js';
import { Segment } from './netns.js';
import type { HttpSummary } from './ns-agent.js';

// Two serving agents on one real PostgreSQL, each on its own segment (its own network namespaces
// and bridge), both proxy DHCP + TFTP + HTTP over the same images dir:
//   rack A: kiln ns 10.81.0.2 (kiln serve --agent rackA)   client ns 10.81.0.3 (ns-agent.ts: the Pi, its installer)
//   rack B: kiln ns 10.82.0.2 (kiln serve --agent rackB)   client ns 10.82.0.3
// The agents reach PostgreSQL over its Unix socket: inside a namespace 127.0.0.1 is the namespace's own.

interface Rack {
  name: string;
  ip: string;
  seg: Segment;
  kilnNs: string;
  state: string;
  kiln: KilnProcess;
  client: NsAgent;
}

const tag = `g${process.pid % 100000}`;
let work = '';
let entry = '';
let images = '';
let pgs: PgServer | undefined;
const racks: Rack[] = [];
const A = (): Rack => must(racks[0], 'rack A (started in beforeAll)');
const B = (): Rack => must(racks[1], 'rack B (started in beforeAll)');
const pg = (): PgServer => must(pgs, 'PostgreSQL (started in beforeAll)');

const macOf = (i: number): string => `dc:a6:32:81:00:0${i}`;
const node = (i: number) => ({ name: `pi-0${i}`, mac: macOf(i), serial: `a9e7000${i}` });

function serveArgs(r: { ip: string; state: string; name: string }): string[] {
  return ['--mode', 'proxy', '--advertise', r.ip, '--state-dir', r.state, '--images-dir', images, '--store', pg().socketUrl, '--agent', r.name];
}

async function startRack(name: string, net: number): Promise<Rack> {
  const seg = new Segment(`${name.at(-1)?.toLowerCase()}${tag}`);
  await seg.create();
  const ip = `10.${net}.0.2`;
  const kilnNs = await seg.member('ks', `02:00:00:${net}:00:02`, `${ip}/24`);
  const clientNs = await seg.member('pi', `02:00:00:${net}:00:03`, `10.${net}.0.3/24`);
  // the Pi's DHCP broadcasts need a route out of the segment's interface
  await run('ip', ['-n', clientNs, 'route', 'add', 'default', 'dev', 'eth0']);
  const state = join(work, `state-${name}`);
  mkdirSync(state, { recursive: true });
  const kiln = new KilnProcess(kilnNs, entry);
  const rack: Rack = { name, ip, seg, kilnNs, state, kiln, client: await NsAgent.start(clientNs, await agentEntry()) };
  racks.push(rack);
  await kiln.start(serveArgs(rack));
  return rack;
}

let agentJs: string | undefined;
async function agentEntry(): Promise<string> {
  agentJs ??= await compileAgent(work);
  return agentJs;
}

/** The real CLI on the shared store, from the host namespace (over TCP). */
async function kilnCli(args: string[]): Promise<string> {
  return (await run(process.execPath, [entry, ...args, '--state-dir', join(work, 'cli-state'), '--store', pg().url], { timeoutMs: 30_000 })).stdout;
}

/** The Pi's DISCOVER from the rack's client namespace: kiln's proxy offer, if any. */
async function discover(r: Rack, i: number, xid: number) {
  return (await r.client.call('dhcp-exchange', { pi: node(i), xid, server: r.ip, full: false, timeoutMs: 1500, tries: 2 })).offer;
}

async function tftpText(r: Rack, path: string): Promise<string | undefined> {
  const got = await r.client.call('tftp-get', { server: r.ip, file: path, blksize: 1024, timeoutMs: 500, maxRetries: 4, deadlineMs: 10_000 });
  return got.ok ? got.text : undefined;
}

const tokenIn = (cmdline: string): string => /(?:^| )kiln\.token=([0-9a-f]{64})(?:\s|$)/.exec(cmdline)?.[1] ?? '';

/** HTTP from the rack's client namespace; a refused connection (agent dead) is status 0. */
async function http(
  r: Rack,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<HttpSummary & { json: () => Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const s = await r.client
    .call('http', {
      url: `http://${r.ip}:8080${path}`,
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      timeoutMs: 10_000,
    })
    .catch((): HttpSummary => ({ status: 0, headers: {}, size: 0, sha256: '' }));
  return { ...s, json: () => JSON.parse(s.text ?? '{}') as Record<string, unknown> };
}

interface EventRow {
  id: number;
  node: string;
  type: string;
  agent?: string | null;
  data: Record<string, unknown>;
}

async function events(r: Rack, name: string): Promise<EventRow[]> {
  const got = await http(r, 'GET', `/api/events?node=${name}&limit=1000`, { token: r.kiln.token });
  expect(got.status, got.text).toBe(200);
  return got.json().events as EventRow[];
}

/** Netboots node `i` on rack `r` as far as the installer's enrolment: its install token and credential. */
async function netbootAndEnroll(r: Rack, i: number, xid: number): Promise<{ token: string; credential: string }> {
  const offer = must(await discover(r, i, xid), `${r.name}'s offer to ${node(i).name}`, r.kiln.log);
  expect(offer.serverId).toBe(r.ip);
  const cmdline = must(await tftpText(r, `${node(i).serial}/cmdline.txt`), `${node(i).name}'s cmdline.txt from ${r.name}`, r.kiln.log);
  expect(cmdline).toContain(`kiln.events=http://${r.ip}:8080/api/nodes/${node(i).name}/events `);
  const token = tokenIn(cmdline);
  expect(token).toMatch(/^[0-9a-f]{64}$/);
  const enrolled = await http(r, 'POST', `/api/nodes/${node(i).name}/enroll`, { token, body: {} });
  expect(enrolled.status, enrolled.text).toBe(201);
  return { token, credential: String(enrolled.json().credential) };
}

/** What the installer reports, with its credential, to the agent that served it. */
const report = (r: Rack, i: number, credential: string, body: Record<string, unknown>) =>
  http(r, 'POST', `/api/nodes/${node(i).name}/events`, { token: credential, body });

async function health(r: Rack): Promise<{ store: { reachable: boolean; error: string | null } }> {
  return JSON.parse(await r.kiln.get('/health')) as { store: { reachable: boolean; error: string | null } };
}

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(v)})`);
    await sleep(200);
  }
}

const metric = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

beforeAll(async () => {
  const compiled = await compileKiln();
  work = compiled.work;
  entry = compiled.entry;
  images = join(work, 'dist');
  makeFixtureImages(images, { withInstaller: true });
  pgs = await startPostgres();
  await startRack('rackA', 81);
  await startRack('rackB', 82);
  for (const i of [1, 2, 3]) await kilnCli(['node', 'add', node(i).name, '--mac', node(i).mac, '--serial', node(i).serial, '--plan', 'install']);
}, 180_000);

afterAll(async () => {
  for (const r of racks) {
    await r.client.stop();
    await r.kiln.stop();
    await r.seg.destroy();
  }
  await pgs?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('two agents, one PostgreSQL store', () => {
  it('a node registered once is answered by rack A on segment A and later by rack B on segment B, with the same install token', async () => {
    const offerA = must(await discover(A(), 1, 0x81a001), "rack A's offer", A().kiln.log);
    expect(offerA.serverId).toBe(A().ip);
    const configA = must(await tftpText(A(), `${node(1).serial}/config.txt`), 'config.txt from rack A', A().kiln.log);
    const cmdA = must(await tftpText(A(), `${node(1).serial}/cmdline.txt`), 'cmdline.txt from rack A', A().kiln.log);
    expect(cmdA).toContain(`kiln.events=http://${A().ip}:8080/api/nodes/pi-01/events `);

    const offerB = must(await discover(B(), 1, 0x82b001), "rack B's offer", B().kiln.log);
    expect(offerB.serverId).toBe(B().ip);
    const configB = must(await tftpText(B(), `${node(1).serial}/config.txt`), 'config.txt from rack B', B().kiln.log);
    const cmdB = must(await tftpText(B(), `${node(1).serial}/cmdline.txt`), 'cmdline.txt from rack B', B().kiln.log);
    expect(cmdB).toContain(`kiln.events=http://${B().ip}:8080/api/nodes/pi-01/events `);
    expect(configB).toBe(configA);
    // the token lives in the store: whichever agent serves it first starts its lifetime, the other serves the same one
    expect(tokenIn(cmdA)).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenIn(cmdB)).toBe(tokenIn(cmdA));
  });

  it('the events of both agents are one timeline, in id order, each with its agent, on either agent and in kiln node show', async () => {
    for (const r of [A(), B()]) {
      const ev = await events(r, 'pi-01');
      const ids = ev.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      const seen = ev.filter((e) => e.type === 'dhcp-seen' || e.type === 'dhcp-offered' || e.type === 'file-fetched').map((e) => e.agent);
      // A's activity, then B's: the order it happened in
      expect(seen.indexOf('rackA')).toBeGreaterThanOrEqual(0);
      expect(seen.lastIndexOf('rackA')).toBeLessThan(seen.indexOf('rackB'));
      // registered by the CLI: no agent
      expect(ev.find((e) => e.type === 'registered')?.agent ?? null).toBeNull();
    }
    expect(await events(A(), 'pi-01')).toEqual(await events(B(), 'pi-01'));
    const shown = JSON.parse(await kilnCli(['node', 'show', 'pi-01', '--json'])) as { events: EventRow[] };
    expect(new Set(shown.events.map((e) => e.agent))).toEqual(new Set([null, 'rackA', 'rackB']));
    const text = await kilnCli(['node', 'show', 'pi-01']);
    expect(text).toMatch(/ rackA {2}dhcp-seen /);
    expect(text).toMatch(/ rackB {2}dhcp-seen /);
  });

  it('a third agent serving other bytes under the same image name is refused at start, naming the image and the agent', async () => {
    const other = join(work, 'dist-other');
    makeFixtureImages(other, { withInstaller: true, imageSize: 2 * 1024 * 1024 });
    const state = join(work, 'state-rackC');
    const port = await freeTcpPort();
    const refused = await execa(
      process.execPath,
      [
        entry,
        'serve',
        '--no-dhcp',
        '--no-tftp',
        '--advertise',
        '127.0.0.1',
        '--http-port',
        String(port),
        '--state-dir',
        state,
        '--images-dir',
        other,
        '--store',
        pg().url,
        '--agent',
        'rackC',
      ],
      { reject: false, all: true, timeout: 30_000 },
    );
    expect(refused.exitCode, refused.all).not.toBe(0);
    expect(refused.all).toMatch(
      new RegExp(
        `image ${FIXTURE_IMAGE} here is sha256 [0-9a-f]{16}…, but agent rackA \\(${A().ip.replaceAll('.', '\\.')}\\) serves [0-9a-f]{16}… under the same name`,
      ),
    );
    // and it left no trace: not in the agent list, both racks still serve
    const db = new pgClient.Client({ connectionString: pg().url });
    await db.connect();
    const agents = (await db.query<{ name: string; network: string }>('SELECT name, network FROM agents ORDER BY name').finally(() => db.end())).rows;
    expect(agents).toEqual([
      { name: 'rackA', network: A().ip },
      { name: 'rackB', network: B().ip },
    ]);
    for (const rack of [A(), B()]) expect((await health(rack)).store.reachable).toBe(true);
  });
});
