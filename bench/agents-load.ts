// Agents over one PostgreSQL, under load: N simulated Raspberry Pi 4s (default 500) netbooting at
// the same moment, run twice in one invocation so the second is read against the first:
//   (a) baseline: ONE `kiln serve` on its SQLite registry, all N nodes on its segment;
//   (b) A `kiln serve` agents (default 5: --agent a1..a5), each in its own network namespace on a
//       segment of its own with its own address pool, sharing ONE PostgreSQL store (in a namespace
//       of its own, reached over a second "store" bridge); N/A nodes per segment.
// The nodes are registered once, through the (first) agent's API. Each node then does what
// load.test.ts's do (ns-agent.ts boot-many: DISCOVER/OFFER, REQUEST/ACK, 8 TFTP reads, 3 image
// Range reads, every byte compared), then what the installer does first: enrol with the install
// token from its cmdline.txt and post one `install-progress` event with its credential. Afterwards
// the store must hold each node's events: registered, dhcp-seen, dhcp-offered, file-fetched for
// every file served, enrolled, install-progress (in (b) written by the agent of its segment).
//
// Run as root from the repo (namespaces; PostgreSQL server binaries, see scripts/setup-host.sh):
//   node bench/agents-load.mjs [--nodes 500] [--agents 5] [--deadline 300] [--dhcp-retry-ms 1000] [--dhcp-tries 10]
// (KILN_LOAD_NODES=N too)
// Writes bench/results/agents-load.json; exits 1 when any node was not served or an event is missing.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { makeFixtureImages } from '../test/helpers/images/serve-images.js';
import { compileKiln } from '../test/helpers/kiln-process.js';
import { type PgServer, startPostgres } from '../test/helpers/postgres.js';
import { compileAgent } from '../test/integration/serve/agent.js';
import { IMAGE_RANGES, PI4_FILES, bootProblems, nodesFor, pct } from '../test/integration/serve/boot-check.js';
import { type KilnSegment, type SharedBuild, startKilnSegment } from '../test/integration/serve/kiln-segment.js';
import { Segment } from '../test/integration/serve/netns.js';
import { run } from '../src/util/exec.js';
import type { NodeBoot, NodeSpec } from '../test/integration/serve/ns-agent.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const NODES = Number(arg('nodes') ?? process.env.KILN_LOAD_NODES ?? 500);
const AGENTS = Number(arg('agents') ?? 5);
/** Each node's own deadline: a node not done by then counts as not served. */
const DEADLINE_MS = Number(arg('deadline') ?? 300) * 1000;
/** A node's DHCP patience: load.test.ts's by default (1 s, 10 tries); a Pi's bootloader is configurable (its EEPROM). */
const DHCP_RETRY_MS = Number(arg('dhcp-retry-ms') ?? 1000);
const DHCP_TRIES = Number(arg('dhcp-tries') ?? 10);
if (!(NODES >= 1 && NODES <= 1000 && AGENTS >= 1 && AGENTS <= 9 && DEADLINE_MS > 0)) {
  throw new Error('--nodes 1..1000, --agents 1..9 (one 10.9<i>.0.0/22 segment each), --deadline seconds');
}
/** A /22 per segment: the baseline's pool must hold all N nodes. */
const MASK = '255.255.252.0';
const PREFIX = 22;
const EVENT = { type: 'install-progress', progress: 1, message: 'agents-load bench' };
/** Every served file is a `file-fetched` row (recover4.elf is refused, so it has none). */
const SERVED = PI4_FILES.filter((f) => !f.missing).map((f) => f.path);
/** onServed is not awaited by the transfer: its rows may land a moment after the last byte. */
const EVENTS_WAIT_MS = 30_000;
const tag = String(process.pid % 10000);
const log = (s: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

interface RunFigures {
  label: string;
  servers: number;
  nodes: number;
  served: number;
  registerMs: number;
  /** From the moment every segment was told to boot to the last node's last byte (or give-up). */
  wallMs: number;
  /** A served node's first DISCOVER to the last byte of its last Range read. */
  bootP50Ms: number;
  bootP95Ms: number;
  bootMaxMs: number;
  /** The same, to the answer to its event (enrolment and event included). */
  withEventP50Ms: number;
  withEventP95Ms: number;
  dhcpP50Ms: number;
  dhcpP95Ms: number;
  /** p50 of each phase of a served node: DHCP (to its address set), TFTP, HTTP ranges, enrol + event. */
  phaseP50Ms: { dhcp: number; tftp: number; http: number; report: number };
  dhcpRetries: number;
  tftpResent: number;
  errors: string[];
  eventsMissing: string[];
  /** Rows in the events table afterwards, by type. */
  events: Record<string, number>;
  load: { before: number[]; after: number[] };
  /** (b): each agent's share: served of its nodes, and their p50/p95 boot. */
  perAgent?: { agent: string; served: string; bootP50Ms: number; bootP95Ms: number }[];
  /** CPU seconds during the boot, by group, and the host's (cpuMeter). */
  cpuS?: Record<string, number>;
}

/** One segment: kiln (its own flags) and the simulated Pis' namespace, on 10.9<i>.0.0/22. */
function segment(i: number, shared: SharedBuild, flags: string[], beforeKiln?: (ns: string) => Promise<void>): Promise<KilnSegment> {
  const net = `10.9${i}`;
  const mac = (host: number): string => `02:00:00:9${i}:00:${host.toString(16).padStart(2, '0')}`;
  return startKilnSegment({
    tag: `${i}${tag}`,
    kiln: { ip: `${net}.0.2`, mac: mac(2) },
    agent: { name: 'pi', ip: `${net}.0.3`, mac: mac(3) },
    // each segment its own pool, as agents on separate networks have
    pool: { start: `${net}.0.100`, end: `${net}.3.250` },
    prefixLen: PREFIX,
    shared,
    beforeKiln,
    flags: () => ['--netmask', MASK, ...flags],
  });
}

/** Registers every node through one kiln's API, as an operator's script would (one POST each). */
async function register(s: KilnSegment, server: string, nodes: NodeSpec[]): Promise<number> {
  const t0 = Date.now();
  // a few at a time: the registration is not what is measured, but 500 in a row take a while
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < nodes.length) {
      const n = nodes[next++] as NodeSpec;
      const r = await s.agent.call('http', {
        url: `http://${server}:8080/api/nodes`,
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: n.name, mac: n.mac, serial: n.serial, image: s.image.name }),
      });
      if (r.status !== 201) throw new Error(`registering ${n.name}: ${r.status} ${r.text ?? ''}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return Date.now() - t0;
}

/** Boots each segment's share of the nodes, all segments told at the same moment. */
async function bootAll(parts: { seg: KilnSegment; server: string; nodes: NodeSpec[] }[], seed: number): Promise<{ boots: NodeBoot[]; wallMs: number }> {
  const t0 = Date.now();
  const results = await Promise.all(
    parts.map((p) =>
      p.seg.agent.call(
        'boot-many',
        {
          server: p.server,
          httpPort: 8080,
          iface: 'eth0',
          prefixLen: PREFIX,
          nodes: p.nodes,
          files: PI4_FILES,
          ranges: IMAGE_RANGES,
          imagePath: `/images/${p.seg.image.name}/${p.seg.image.name}.img`,
          dropRate: 0,
          seed,
          tftpTimeoutMs: 1000,
          deadlineMs: DEADLINE_MS,
          dhcpRetryMs: DHCP_RETRY_MS,
          dhcpTries: DHCP_TRIES,
          report: EVENT,
        },
        DEADLINE_MS + 120_000,
      ),
    ),
  );
  return { boots: results.flatMap((r) => r.nodes), wallMs: Date.now() - t0 };
}

interface EventRow {
  node: string;
  type: string;
  agent: string | null;
  data: string;
}

/** What each node's events lack (waiting a while for rows still being written); `agentOf` when agents wrote them. */
async function missingEvents(
  read: () => Promise<EventRow[]>,
  nodes: NodeSpec[],
  agentOf?: Map<string, string>,
): Promise<{ missing: string[]; byType: Record<string, number> }> {
  const until = Date.now() + EVENTS_WAIT_MS;
  for (;;) {
    const rows = await read();
    const byNode = new Map<string, EventRow[]>();
    const byType: Record<string, number> = {};
    for (const r of rows) {
      byNode.set(r.node, [...(byNode.get(r.node) ?? []), r]);
      byType[r.type] = (byType[r.type] ?? 0) + 1;
    }
    const missing: string[] = [];
    for (const n of nodes) {
      const mine = byNode.get(n.name) ?? [];
      const has = (type: string, pred: (r: EventRow) => boolean = () => true): boolean => mine.some((r) => r.type === type && pred(r));
      const want = agentOf?.get(n.name);
      const byAgent = (r: EventRow): boolean => want === undefined || r.agent === want;
      const lacks = [
        has('registered') ? '' : 'registered',
        ...['dhcp-seen', 'dhcp-offered', 'enrolled', 'install-progress'].map((t) => (has(t, byAgent) ? '' : t)),
        ...SERVED.map((p) =>
          has('file-fetched', (r) => byAgent(r) && String((JSON.parse(r.data) as { path?: string }).path).endsWith(p)) ? '' : `file-fetched ${p}`,
        ),
      ].filter(Boolean);
      if (lacks.length) missing.push(`${n.name}: no ${lacks.join(', ')}${want ? ` by ${want}` : ''}`);
    }
    if (missing.length === 0 || Date.now() > until) return { missing, byType };
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function figures(
  label: string,
  servers: number,
  boots: NodeBoot[],
  wallMs: number,
  registerMs: number,
  problems: string[],
  events: { missing: string[]; byType: Record<string, number> },
  before: number[],
): RunFigures {
  const ok = boots.filter((b) => b.ok);
  const total = ok.map((b) => b.ms.total - (b.ms.report ?? 0)).sort((x, y) => x - y);
  const withEvent = ok.map((b) => b.ms.total).sort((x, y) => x - y);
  const dhcp = ok.map((b) => b.ms.dhcp).sort((x, y) => x - y);
  return {
    label,
    servers,
    nodes: boots.length,
    served: ok.length,
    registerMs,
    wallMs,
    bootP50Ms: pct(total, 50),
    bootP95Ms: pct(total, 95),
    bootMaxMs: total.at(-1) ?? Number.NaN,
    withEventP50Ms: pct(withEvent, 50),
    withEventP95Ms: pct(withEvent, 95),
    dhcpP50Ms: pct(dhcp, 50),
    dhcpP95Ms: pct(dhcp, 95),
    phaseP50Ms: {
      dhcp: pct(dhcp, 50),
      tftp: pct(
        ok.map((b) => b.ms.tftp).sort((x, y) => x - y),
        50,
      ),
      http: pct(
        ok.map((b) => b.ms.http).sort((x, y) => x - y),
        50,
      ),
      report: pct(
        ok.map((b) => b.ms.report ?? Number.NaN).sort((x, y) => x - y),
        50,
      ),
    },
    dhcpRetries: boots.reduce((s, b) => s + Math.max(0, b.dhcp.discovers + b.dhcp.requests - 2), 0),
    tftpResent: boots.flatMap((b) => b.files).reduce((s, f) => s + f.resent, 0),
    errors: [...boots.filter((b) => !b.ok).map((b) => `${b.name}: ${b.error ?? '?'}`), ...problems],
    eventsMissing: events.missing,
    events: events.byType,
    load: { before, after: loadavg().map((x) => Number(x.toFixed(2))) },
  };
}

const load = (): number[] => loadavg().map((x) => Number(x.toFixed(2)));

/** /proc's times are in USER_HZ, 100 a second on Linux. */
const HZ = 100;

/** utime + stime of a process (0 once it is gone). */
function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Busy time of every CPU of the host (all but idle and iowait). */
function hostBusy(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((s, x, i) => (i === 3 || i === 4 ? s : s + x), 0);
}

async function pidsIn(ns: string): Promise<number[]> {
  return (await run('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
}

/**
 * Who used the two cores during a boot: CPU seconds of the processes in each group of
 * namespaces (kiln, the simulated Pis, PostgreSQL), and of the whole host. What the groups do not
 * account for is other processes, helpers that exited (the Pis' `ip addr add`), and the kernel's
 * packet work in softirq (the veths), which no process is charged for.
 */
async function cpuMeter(groups: Record<string, string[]>): Promise<() => Promise<Record<string, number>>> {
  const before = new Map<number, number>();
  for (const nss of Object.values(groups)) for (const ns of nss) for (const pid of await pidsIn(ns)) before.set(pid, ticks(pid));
  const host0 = hostBusy();
  return async () => {
    const host = hostBusy() - host0;
    const out: Record<string, number> = {};
    for (const [g, nss] of Object.entries(groups)) {
      let t = 0;
      for (const ns of nss) for (const pid of await pidsIn(ns)) t += ticks(pid) - (before.get(pid) ?? 0);
      out[g] = t / HZ;
    }
    out.host = host / HZ;
    return out;
  };
}

/** (a): one kiln serve, its own SQLite registry, every node on its segment. */
async function baseline(shared: SharedBuild, seed: number): Promise<RunFigures> {
  log(`(a) one kiln serve on SQLite, ${NODES} nodes`);
  const seg = await segment(0, shared, []);
  try {
    const server = '10.90.0.2';
    const nodes = nodesFor('sq', 0x5a, NODES);
    const registerMs = await register(seg, server, nodes);
    const before = load();
    log(`(a) registered in ${registerMs} ms; booting ${NODES} at once (load ${before.join(' ')})`);
    const meter = await cpuMeter({ kiln: [seg.kilnNs], pis: [`pi0${tag}`] });
    const { boots, wallMs } = await bootAll([{ seg, server, nodes }], seed);
    const cpuS = await meter();
    const problems = bootProblems(boots, shared.image, server);
    if (seg.kiln.exitStatus !== undefined) problems.push(`kiln exited (${seg.kiln.exitStatus}):\n${seg.kiln.log.slice(-3000)}`);
    const db = new Database(join(seg.state, 'kiln.db'), { readonly: true });
    try {
      const events = await missingEvents(async () => db.prepare('SELECT node, type, agent, data FROM events').all() as EventRow[], nodes);
      return { ...figures('one kiln serve, SQLite', 1, boots, wallMs, registerMs, problems, events, before), cpuS };
    } finally {
      db.close();
    }
  } finally {
    await seg.stop();
  }
}

/** (b): AGENTS kiln serve agents, one PostgreSQL, N/AGENTS nodes per segment. */
async function agents(shared: SharedBuild, seed: number): Promise<RunFigures> {
  log(`(b) ${AGENTS} kiln serve agent(s) over one PostgreSQL, ${NODES} nodes`);
  // the store's own network: PostgreSQL's namespace and a second interface in each kiln's
  const storeNet = new Segment(`st${tag}`);
  const segs: KilnSegment[] = [];
  let pgs: PgServer | undefined;
  try {
    await storeNet.create();
    const dbNs = await storeNet.member('db', '02:00:00:84:00:02', '10.84.0.2/24');
    // five pools of 10 connections, and this process's reader
    pgs = await startPostgres({ netns: dbNs, listen: '10.84.0.2', maxConnections: 20 + AGENTS * 12, allowFrom: '10.84.0.0/24' });
    const url = pgs.url;
    for (let i = 1; i <= AGENTS; i++) {
      segs.push(
        await segment(i, shared, ['--store', url, '--agent', `a${i}`], (ns) =>
          storeNet.attach(ns, 'eth1', `02:00:00:84:00:${(10 + i).toString(16)}`, `10.84.0.${10 + i}/24`),
        ),
      );
    }
    const all = nodesFor('pg', 0x5b, NODES);
    const first = segs[0] as KilnSegment;
    const registerMs = await register(first, '10.91.0.2', all);
    // node j boots on segment j mod AGENTS: every agent gets N/AGENTS (±1)
    const parts = segs.map((seg, k) => ({ seg, server: `10.9${k + 1}.0.2`, nodes: all.filter((_, j) => j % AGENTS === k) }));
    const agentOf = new Map(parts.flatMap((p, k) => p.nodes.map((n) => [n.name, `a${k + 1}`] as const)));
    const before = load();
    log(`(b) registered through a1 in ${registerMs} ms; booting ${NODES} at once on ${AGENTS} segments (load ${before.join(' ')})`);
    const meter = await cpuMeter({ kiln: segs.map((x) => x.kilnNs), pis: segs.map((_, k) => `pi${k + 1}${tag}`), postgres: [dbNs] });
    const { boots, wallMs } = await bootAll(parts, seed);
    const cpuS = await meter();
    // each segment's nodes must have had everything from their own agent
    const problems = parts.flatMap((p) => {
      const mine = new Set(p.nodes.map((n) => n.name));
      return bootProblems(
        boots.filter((b) => mine.has(b.name)),
        shared.image,
        p.server,
      );
    });
    for (const [k, s] of segs.entries())
      if (s.kiln.exitStatus !== undefined) problems.push(`a${k + 1} exited (${s.kiln.exitStatus}):\n${s.kiln.log.slice(-3000)}`);
    const client = new pg.Client({ host: pgs.socketDir, port: pgs.port, user: 'kiln', database: 'kiln' });
    await client.connect();
    try {
      const events = await missingEvents(async () => (await client.query<EventRow>('SELECT node, type, agent, data FROM events')).rows, all, agentOf);
      const perAgent = parts.map((p, k) => {
        const mine = new Set(p.nodes.map((n) => n.name));
        const ok = boots.filter((b) => mine.has(b.name) && b.ok);
        const t = ok.map((b) => b.ms.total - (b.ms.report ?? 0)).sort((x, y) => x - y);
        return { agent: `a${k + 1}`, served: `${ok.length}/${mine.size}`, bootP50Ms: pct(t, 50), bootP95Ms: pct(t, 95) };
      });
      return {
        ...figures(`${AGENTS} agent${AGENTS === 1 ? '' : 's'}, one PostgreSQL`, AGENTS, boots, wallMs, registerMs, problems, events, before),
        perAgent,
        cpuS,
      };
    } finally {
      await client.end();
    }
  } finally {
    for (const s of segs) await s.stop();
    await pgs?.destroy();
    await storeNet.destroy();
  }
}

const s1 = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '–');

async function main(): Promise<number> {
  const t0 = Date.now();
  log(`building kiln and the simulated Pis (${cpus().length} cores, load ${load().join(' ')})`);
  const { work, entry } = await compileKiln();
  try {
    const shared: SharedBuild = { work, entry, agentEntry: await compileAgent(work), image: makeFixtureImages(join(work, 'dist'), { withInstaller: true }) };
    const seed = Date.now() % 0x7fffffff;
    const a = await baseline(shared, seed);
    let b: RunFigures;
    try {
      b = await agents(shared, seed);
    } catch (err) {
      // the baseline's figures are still worth keeping when the agents' set-up fails (at this size)
      mkdirSync('bench/results', { recursive: true });
      writeFileSync(
        'bench/results/agents-load.json',
        `${JSON.stringify({ at: new Date().toISOString(), nodes: NODES, agents: AGENTS, runs: { baseline: a }, agentsFailed: String(err) }, null, 2)}\n`,
      );
      throw err;
    }
    const ratio = (x: number, y: number): number => Number((x / y).toFixed(2));
    const result = {
      at: new Date().toISOString(),
      command: process.argv.slice(2).length ? `node bench/agents-load.mjs ${process.argv.slice(2).join(' ')}` : 'node bench/agents-load.mjs',
      machine: { cores: cpus().length, cpu: cpus()[0]?.model },
      nodes: NODES,
      agents: AGENTS,
      dhcp: { retryMs: DHCP_RETRY_MS, tries: DHCP_TRIES },
      deadlineMs: DEADLINE_MS,
      runs: { baseline: a, agents: b },
      ratio: {
        wall: ratio(b.wallMs, a.wallMs),
        bootP50: ratio(b.bootP50Ms, a.bootP50Ms),
        bootP95: ratio(b.bootP95Ms, a.bootP95Ms),
        withEventP50: ratio(b.withEventP50Ms, a.withEventP50Ms),
      },
      totalMs: Date.now() - t0,
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/agents-load.json', `${JSON.stringify(result, null, 2)}\n`);
    const row = (r: RunFigures): string =>
      `| ${r.label} | ${r.servers} | ${r.served}/${r.nodes} | ${s1(r.wallMs)} | ${s1(r.bootP50Ms)} / ${s1(r.bootP95Ms)} | ${s1(r.withEventP50Ms)} / ${s1(r.withEventP95Ms)} | ${s1(r.dhcpP50Ms)} / ${s1(r.dhcpP95Ms)} | ${r.dhcpRetries} | ${r.tftpResent} | ${r.errors.length} | ${r.eventsMissing.length} | ${r.load.before.join(' ')} → ${r.load.after.join(' ')} |`;
    console.log(
      [
        '',
        `${NODES} nodes booting at once (seed ${seed}; ${cpus().length} cores); bench/results/agents-load.json`,
        '| run | kiln processes | served | wall s | p50 / p95 boot s (to last byte) | p50 / p95 with enrol + event s | p50 / p95 DHCP s | DHCP re-sends | TFTP re-sends | errors | nodes missing events | load 1/5/15 min before → after |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|',
        row(a),
        row(b),
        `ratio (b)/(a): wall ${result.ratio.wall}, p50 boot ${result.ratio.bootP50}, p95 boot ${result.ratio.bootP95}`,
        ...[a, b].map(
          (r) =>
            `${r.label}: p50 DHCP ${s1(r.phaseP50Ms.dhcp)} s, TFTP ${s1(r.phaseP50Ms.tftp)} s, HTTP ${s1(r.phaseP50Ms.http)} s, enrol + event ${s1(r.phaseP50Ms.report)} s`,
        ),
        ...[a, b].map(
          (r) =>
            `${r.label}: CPU s during the boot (${(r.wallMs / 1000).toFixed(1)} s wall × ${cpus().length} cores): ${Object.entries(r.cpuS ?? {})
              .map(([k, v]) => `${k} ${v.toFixed(1)}`)
              .join(', ')}`,
        ),
        `per agent (served, p50 / p95 boot s): ${(b.perAgent ?? []).map((x) => `${x.agent} ${x.served} ${s1(x.bootP50Ms)} / ${s1(x.bootP95Ms)}`).join('; ')}`,
        ...[a, b].flatMap((r) => [...r.errors, ...r.eventsMissing].slice(0, 10).map((e) => `  ${r.label}: ${e}`)),
      ].join('\n'),
    );
    const bad = [a, b].some((r) => r.served < r.nodes || r.errors.length > 0 || r.eventsMissing.length > 0);
    return bad ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(2);
  },
);
