import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/util/exec.js';
import { type KilnSegment, startKilnSegment } from './kiln-segment.js';
import { must } from '../../helpers/must.js';
import { IMAGE_RANGES, PI4_FILES, bootProblems, nodesFor, pct } from './boot-check.js';
import type { NodeBoot, NodeSpec } from './ns-agent.js';
import { seedFrom } from './prng.js';
import { metricValue, movedByLabel } from './prom.js';

// 50 Raspberry Pi 4s booting at once against ONE real `kiln serve` (compiled CLI, full DHCP mode)
// in a network namespace on a bridge:
//   kiln ns (kiln serve, 10.83.0.2)   pis ns (10.83.0.3 for the operator; each simulated Pi adds the
//   address kiln leases it and talks from there)
// Each node is registered through the API (bearer token), then, all at the same moment: DHCP
// DISCOVER -> OFFER, REQUEST -> ACK; its 8 TFTP reads as a Pi 4 makes them (blksize 1024 + tsize,
// re-ACK after 1 s of silence, one probe of a file that does not exist); three HTTP Range reads of
// the image. Every byte is compared. Run twice: a clean link, and 2 % loss of what kiln sends (the
// egress of its veth, as `tc qdisc ... netem loss 2%` there would; this kernel has no sch_netem, so
// a cls_bpf filter drops 1 packet in 50 at random). KILN_LOAD_LOSS=both also drops 2 % of what
// reaches kiln (ACKs, requests); KILN_LOAD_LOSS=client drops 2 % of incoming DATA in the client,
// seeded, which is also the fallback where tc cannot.

const KILN = '10.83.0.2';
const POOL = { start: '10.83.0.100', end: '10.83.0.250' };
const NODES = Number(process.env.KILN_LOAD_NODES ?? 50);
const LOSS = 0.02;
const BOTH_WAYS = process.env.KILN_LOAD_LOSS === 'both';
/** cBPF, direct action: A = random; A %= 50; A == 0 ? TC_ACT_SHOT : TC_ACT_OK */
const DROP_1_IN_50 = '5,32 0 0 4294963256,148 0 0 50,21 0 1 0,6 0 0 2,6 0 0 0';
const seed = seedFrom(process.env.KILN_FUZZ_SEED);

let up: KilnSegment | undefined;
const figures: string[] = [];

/** kiln and the agent, as beforeAll started them. */
const env = (): KilnSegment => must(up, 'kiln serve and the agent (started in beforeAll)');
const log = (): string => (up?.kiln.log ?? '').slice(-6000);

async function register(nodes: NodeSpec[]): Promise<number> {
  const { agent, token, image } = env();
  const t0 = Date.now();
  for (const n of nodes) {
    const r = await agent.call('http', {
      url: `http://${KILN}:8080/api/nodes`,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: n.name, mac: n.mac, serial: n.serial, image: image.name }),
    });
    expect(r.status, r.text).toBe(201);
  }
  return Date.now() - t0;
}

/** Packets the loss filter dropped on kiln's interface (clsact counts TC_ACT_SHOT as drops). */
async function tcDrops(): Promise<number> {
  const r = await run('ip', ['netns', 'exec', env().kilnNs, 'tc', '-s', 'qdisc', 'show', 'dev', 'eth0']).catch(() => undefined);
  const m = /qdisc clsact[\s\S]*?dropped (\d+)/.exec(r?.stdout ?? '');
  return m ? Number(m[1]) : NaN;
}

/** Every node finished, with every byte right and its own rendered files. */
function checkNodes(boots: NodeBoot[]): void {
  const failed = boots.filter((b) => !b.ok).map((b) => `${b.name}: ${b.error ?? '?'}`);
  expect(failed, `${failed.length} of ${boots.length} nodes did not finish:\n${failed.slice(0, 10).join('\n')}\n${log()}`).toEqual([]);
  expect(bootProblems(boots, env().image, KILN)).toEqual([]);
}

interface Variant {
  label: string;
  loss: 'none' | 'kernel' | 'client';
}

async function runVariant(v: Variant, prefix: string, octet: number): Promise<void> {
  const { kiln, kilnNs, pid, agent, image, metrics } = env();
  const nodes = nodesFor(prefix, octet, NODES);
  const registerMs = await register(nodes);
  let loss = v.loss;
  if (loss === 'kernel') {
    const tc = (args: string[]): Promise<unknown> => run('ip', ['netns', 'exec', kilnNs, 'tc', ...args]);
    const ok = await tc(['qdisc', 'add', 'dev', 'eth0', 'clsact'])
      .then(() => tc(['filter', 'add', 'dev', 'eth0', 'egress', 'bpf', 'da', 'bytecode', DROP_1_IN_50]))
      .then(() => (BOTH_WAYS ? tc(['filter', 'add', 'dev', 'eth0', 'ingress', 'bpf', 'da', 'bytecode', DROP_1_IN_50]) : undefined))
      .then(
        () => true,
        (e: Error) => {
          console.log(`no kernel loss filter (${e.message.split('\n')[0]}): dropping 2 % of DATA in the client instead`);
          return false;
        },
      );
    if (!ok) loss = 'client';
  }
  const before = await metrics();
  const drops0 = loss === 'kernel' ? await tcDrops() : 0;
  let result: { nodes: NodeBoot[]; ms: number };
  try {
    result = await agent.call(
      'boot-many',
      {
        server: KILN,
        httpPort: 8080,
        iface: 'eth0',
        prefixLen: 24,
        nodes,
        files: PI4_FILES,
        ranges: IMAGE_RANGES,
        imagePath: `/images/${image.name}/${image.name}.img`,
        dropRate: loss === 'client' ? LOSS : 0,
        seed,
        tftpTimeoutMs: 1000,
        deadlineMs: 90_000,
      },
      120_000,
    );
  } finally {
    if (loss === 'kernel') {
      const dropped = (await tcDrops()) - drops0;
      figures.push(`kernel drops on kiln's link: ${dropped}`);
      await run('ip', ['netns', 'exec', kilnNs, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'clsact']).catch(() => undefined);
    }
  }
  const after = await metrics();
  const boots = result.nodes;
  const total = boots.map((b) => b.ms.total).sort((a, b) => a - b);
  const tftp = boots.map((b) => b.ms.tftp).sort((a, b) => a - b);
  const files = boots.flatMap((b) => b.files);
  const tftpBytes = files.reduce((s, f) => s + f.size, 0);
  const httpBytes = boots.flatMap((b) => b.ranges).reduce((s, r) => s + r.size, 0);
  const resent = files.reduce((s, f) => s + f.resent, 0);
  const dups = files.reduce((s, f) => s + f.duplicates, 0);
  const clientDropped = files.reduce((s, f) => s + f.dropped, 0);
  const dhcpRetries = boots.reduce((s, b) => s + b.dhcp.discovers + b.dhcp.requests - 2, 0);
  const lossLabel =
    loss === 'kernel' ? `2 % ${BOTH_WAYS ? 'both ways' : 'of what kiln sends'} (kernel)` : loss === 'client' ? '2 % of DATA (client, seeded)' : 'none';
  const row = [
    v.label,
    lossLabel,
    `${boots.filter((b) => b.ok).length}/${boots.length}`,
    (result.ms / 1000).toFixed(1),
    (pct(total, 50) / 1000).toFixed(1),
    (pct(total, 95) / 1000).toFixed(1),
    (pct(tftp, 50) / 1000).toFixed(1),
    (tftpBytes / 1e6).toFixed(1),
    (httpBytes / 1e6).toFixed(1),
    String(resent),
    String(dups),
    String(dhcpRetries),
  ];
  figures.push(`| ${row.join(' | ')} |`);
  console.log(
    [
      `load ${v.label} (seed ${seed}; registration of ${NODES} nodes over the API: ${registerMs} ms)`,
      '| variant | loss | finished | wall s | p50 boot s | p95 boot s | p50 TFTP s | TFTP MB | HTTP MB | client re-sends | dup DATA | DHCP retries |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      `| ${row.join(' | ')} |`,
      clientDropped ? `DATA dropped in the client: ${clientDropped}` : '',
      `kiln: TFTP requests ${movedByLabel(before, after, 'kiln_tftp_requests_total', 'result')}; datagrams dropped ${movedByLabel(before, after, 'kiln_tftp_datagrams_dropped_total', 'reason') || 'none'}; boots +${metricValue(after, 'kiln_boots_total', { mode: 'full' }) - metricValue(before, 'kiln_boots_total', { mode: 'full' })}`,
    ]
      .filter(Boolean)
      .join('\n'),
  );
  expect(kiln.exitStatus, log()).toBeUndefined();
  expect(kiln.pid).toBe(pid);
  checkNodes(boots);
  expect(metricValue(after, 'kiln_boots_total', { mode: 'full' }) - metricValue(before, 'kiln_boots_total', { mode: 'full' })).toBeGreaterThanOrEqual(NODES);
}

beforeAll(async () => {
  up = await startKilnSegment({
    tag: `l${process.pid % 100000}`,
    kiln: { ip: KILN, mac: '02:00:00:00:83:02' },
    // the simulated Pis' namespace
    agent: { name: 'pi', ip: '10.83.0.3', mac: '02:00:00:00:83:03' },
    pool: POOL,
  });
}, 120_000);

afterAll(async () => {
  await up?.stop();
  if (figures.length) console.log(['load figures:', ...figures].join('\n'));
});

describe(`${NODES} Raspberry Pi 4s netbooting at once from one kiln serve (full mode)`, () => {
  it('on a clean link: every node gets its lease, its 8 TFTP reads and its image ranges, byte for byte', async () => {
    await runVariant({ label: 'clean', loss: 'none' }, 'ld', 0x4a);
  }, 180_000);

  it('with 2 % packet loss: every node still finishes, byte for byte', async () => {
    await runVariant({ label: '2% loss', loss: process.env.KILN_LOAD_LOSS === 'client' ? 'client' : 'kernel' }, 'ls', 0x4b);
  }, 180_000);
});
