import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { run } from '../../../src/util/exec.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { KilnProcess, compileKiln } from '../../helpers/kiln-process.js';
import { must } from '../../helpers/must.js';
import { sleep } from '../../helpers/net.js';
import { type PgServer, startPostgres } from '../../helpers/postgres.js';
import { NsAgent, compileAgent } from './agent.js';
import { Segment } from './netns.js';
import type { HttpSummary } from './ns-agent.js';

// Serving agents on one real PostgreSQL, each rack on its own segment (its own network namespaces
// and bridge), all proxy DHCP + TFTP + HTTP over the same images dir:
//   rack on net N: kiln ns 10.N.0.2 (kiln serve --agent <name>)   client ns 10.N.0.3 (ns-agent.ts: the Pi, its installer)
// The agents reach PostgreSQL over its Unix socket: inside a namespace 127.0.0.1 is the namespace's own.
// For agents-postgres.test.ts and agents-faults.test.ts, which differ in what they break.

export interface Rack {
  name: string;
  ip: string;
  seg: Segment;
  kilnNs: string;
  state: string;
  kiln: KilnProcess;
  client: NsAgent;
}

export interface EventRow {
  id: number;
  node: string;
  type: string;
  agent?: string | null;
  data: Record<string, unknown>;
}

export type HttpReply = HttpSummary & { json: () => Record<string, unknown> };

/** Node `i` (1..9) of the test: its name, MAC and serial. */
export const node = (i: number) => ({ name: `pi-0${i}`, mac: `dc:a6:32:81:00:0${i}`, serial: `a9e7000${i}` });

export const tokenIn = (cmdline: string): string => /(?:^| )kiln\.token=([0-9a-f]{64})(?:\s|$)/.exec(cmdline)?.[1] ?? '';

export async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(v)})`);
    await sleep(200);
  }
}

export class StoreRacks {
  readonly racks: Rack[] = [];
  private agentJs: string | undefined;

  private constructor(
    readonly work: string,
    readonly entry: string,
    readonly images: string,
    readonly pg: PgServer,
    private readonly tag: string,
  ) {}

  /** Compiles kiln and the namespace agent, makes the fixture images, starts PostgreSQL. */
  static async create(tag: string): Promise<StoreRacks> {
    const { work, entry } = await compileKiln();
    const images = join(work, 'dist');
    makeFixtureImages(images, { withInstaller: true });
    return new StoreRacks(work, entry, images, await startPostgres(), tag);
  }

  serveArgs(r: { ip: string; state: string; name: string }): string[] {
    return ['--mode', 'proxy', '--advertise', r.ip, '--state-dir', r.state, '--images-dir', this.images, '--store', this.pg.socketUrl, '--agent', r.name];
  }

  /** A segment of its own with `kiln serve --agent <name>` on 10.<net>.0.2 and the client agent on .3. */
  async startRack(name: string, net: number): Promise<Rack> {
    const seg = new Segment(`${name.at(-1)?.toLowerCase()}${this.tag}`);
    await seg.create();
    const ip = `10.${net}.0.2`;
    const kilnNs = await seg.member('ks', `02:00:00:${net}:00:02`, `${ip}/24`);
    const clientNs = await seg.member('pi', `02:00:00:${net}:00:03`, `10.${net}.0.3/24`);
    // the Pi's DHCP broadcasts need a route out of the segment's interface
    await run('ip', ['-n', clientNs, 'route', 'add', 'default', 'dev', 'eth0']);
    const state = join(this.work, `state-${name}`);
    mkdirSync(state, { recursive: true });
    this.agentJs ??= await compileAgent(this.work);
    const rack: Rack = { name, ip, seg, kilnNs, state, kiln: new KilnProcess(kilnNs, this.entry), client: await NsAgent.start(clientNs, this.agentJs) };
    this.racks.push(rack);
    await rack.kiln.start(this.serveArgs(rack));
    return rack;
  }

  /** The real CLI on the shared store, from the host namespace (over TCP). */
  async cli(args: string[]): Promise<string> {
    return (await run(process.execPath, [this.entry, ...args, '--state-dir', join(this.work, 'cli-state'), '--store', this.pg.url], { timeoutMs: 30_000 }))
      .stdout;
  }

  async addNode(i: number): Promise<void> {
    const n = node(i);
    await this.cli(['node', 'add', n.name, '--mac', n.mac, '--serial', n.serial, '--plan', 'install']);
  }

  async stop(): Promise<void> {
    for (const r of this.racks) {
      await r.client.stop();
      await r.kiln.stop();
      await r.seg.destroy();
    }
    await this.pg.destroy();
    rmSync(this.work, { recursive: true, force: true });
  }
}

/** The Pi's DISCOVER from the rack's client namespace: kiln's proxy offer, if any. */
export async function discover(r: Rack, i: number, xid: number) {
  return (await r.client.call('dhcp-exchange', { pi: node(i), xid, server: r.ip, full: false, timeoutMs: 1500, tries: 2 })).offer;
}

/** A TFTP read from the rack's client namespace: the text, or undefined when kiln did not serve it. */
export async function tftpText(r: Rack, path: string): Promise<string | undefined> {
  const got = await r.client.call('tftp-get', { server: r.ip, file: path, blksize: 1024, timeoutMs: 500, maxRetries: 4, deadlineMs: 10_000 });
  return got.ok ? got.text : undefined;
}

/** HTTP from the rack's client namespace; no answer at all (the agent is dead) is status 0. */
export async function http(r: Rack, method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<HttpReply> {
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

/** The node's events, through the rack's HTTP API (its operator token). */
export async function events(r: Rack, name: string): Promise<EventRow[]> {
  const got = await http(r, 'GET', `/api/events?node=${name}&limit=1000`, { token: r.kiln.token });
  expect(got.status, got.text).toBe(200);
  return got.json().events as EventRow[];
}

/** Netboots node `i` on rack `r` as far as the installer's enrolment: its install token and credential. */
export async function netbootAndEnroll(r: Rack, i: number, xid: number): Promise<{ token: string; credential: string }> {
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

/** What the installer reports, with its credential, to the agent whose address its command line names. */
export function report(r: Rack, i: number, credential: string, body: Record<string, unknown>): Promise<HttpReply> {
  return http(r, 'POST', `/api/nodes/${node(i).name}/events`, { token: credential, body });
}

export interface Health {
  ok: boolean;
  store: { kind: string; reachable: boolean; lastOk: string | null; error: string | null };
}

export async function health(r: Rack): Promise<Health> {
  return JSON.parse(await r.kiln.get('/health')) as Health;
}
