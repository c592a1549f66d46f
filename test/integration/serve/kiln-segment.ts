import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../../src/util/exec.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { KilnProcess, compileKiln } from '../../helpers/kiln-process.js';
import { NsAgent, compileAgent } from './agent.js';
import { Segment } from './netns.js';

// ONE real `kiln serve` (the compiled CLI, full DHCP mode with a pool, fixture images with an
// installer) and the namespace agent on a bridge of their own:
//   kiln ns `ks<tag>` (kiln serve)   agent ns `<agent.name><tag>` (ns-agent.ts: what the test sends)
// Both in the same /24; the agent's namespace routes broadcasts out of its interface, so its DHCP
// reaches kiln. For the fuzz and load tests, which differ in kiln's flags and what they send.

export interface KilnSegmentOptions {
  /** Tag of the segment's namespaces: unique to the test file (and the process). */
  tag: string;
  /** kiln's interface: its address (in a /24) and MAC. */
  kiln: { ip: string; mac: string };
  /** The agent's namespace: its member name, address (in the same /24) and MAC. */
  agent: { name: string; ip: string; mac: string };
  /** kiln's DHCP pool. */
  pool: { start: string; end: string };
  /** More `kiln serve` flags, given the work dir (where they may name files the test writes there). */
  flags?: (work: string) => string[];
  /** The segment's prefix length (default 24): a pool of more than ~250 nodes needs a wider one. */
  prefixLen?: number;
  /**
   * Several segments in one run (agents sharing a store): the compiled CLI and agent and the
   * image directory, made once (a KilnSegment's `shared`, or built by the caller), so every agent
   * serves the same bytes. Each segment still has its own state dir; stop() leaves the shared work
   * dir to its owner.
   */
  shared?: SharedBuild;
  /** Runs once kiln's namespace exists, before kiln starts (e.g. to give it a second network). */
  beforeKiln?: (kilnNs: string) => Promise<void>;
}

export interface SharedBuild {
  work: string;
  entry: string;
  agentEntry: string;
  image: { name: string; dir: string };
}

export interface KilnSegment {
  /** The scratch dir: kiln's `state/` and `dist/` (the images), and what the test writes. */
  work: string;
  /** The fixture image in `dist/`. */
  image: { name: string; dir: string };
  kiln: KilnProcess;
  kilnNs: string;
  /** kiln's PID once it answered: the same process must keep answering. */
  pid: number | undefined;
  /** The operator's API token. */
  token: string;
  agent: NsAgent;
  /** kiln's /metrics, fetched by the agent. */
  metrics(): Promise<string>;
  /** kiln's state dir (its API token; its registry unless --store says otherwise). */
  state: string;
  /** What another segment needs to run the same build (KilnSegmentOptions.shared). */
  shared: SharedBuild;
  /** Stops the agent and kiln, deletes the namespaces and the work dir (unless it was shared). */
  stop(): Promise<void>;
}

/** Sets it all up; on a failure part way, takes down what it made before it rethrows. */
export async function startKilnSegment(o: KilnSegmentOptions): Promise<KilnSegment> {
  const compiled = o.shared ?? (await compileKiln());
  const { work } = compiled;
  const seg = new Segment(o.tag);
  const made: { kiln?: KilnProcess; agent?: NsAgent } = {};
  const stop = async (): Promise<void> => {
    await made.agent?.stop();
    await made.kiln?.stop();
    await seg.destroy();
    if (!o.shared) rmSync(work, { recursive: true, force: true });
  };
  try {
    const entry = o.shared?.agentEntry ?? (await compileAgent(work));
    const images = join(work, 'dist');
    const state = o.shared ? join(work, `state-${o.tag}`) : join(work, 'state');
    const image = o.shared?.image ?? makeFixtureImages(images, { withInstaller: true });
    mkdirSync(state, { recursive: true });
    await seg.create();
    const len = o.prefixLen ?? 24;
    const kilnNs = await seg.member('ks', o.kiln.mac, `${o.kiln.ip}/${len}`);
    const agentNs = await seg.member(o.agent.name, o.agent.mac, `${o.agent.ip}/${len}`);
    // DHCP broadcasts to 255.255.255.255 need a route out of the segment's interface (it stays on the bridge)
    await run('ip', ['-n', agentNs, 'route', 'add', 'default', 'dev', 'eth0']);
    await o.beforeKiln?.(kilnNs);
    const kiln = new KilnProcess(kilnNs, compiled.entry);
    made.kiln = kiln;
    const pool = `${o.pool.start}-${o.pool.end}`;
    await kiln.start(['--mode', 'full', '--pool', pool, '--advertise', o.kiln.ip, '--state-dir', state, '--images-dir', images, ...(o.flags?.(work) ?? [])]);
    const token = readFileSync(join(state, 'api-token'), 'utf8').trim();
    const agent = await NsAgent.start(agentNs, entry);
    made.agent = agent;
    const metrics = async (): Promise<string> => (await agent.call('http', { url: `http://${o.kiln.ip}:8080/metrics` })).text ?? '';
    const shared = { work, entry: compiled.entry, agentEntry: entry, image };
    return { work, image, kiln, kilnNs, pid: kiln.pid, token, agent, metrics, state, shared, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
