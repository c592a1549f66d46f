import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/util/exec.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { KilnProcess, compileKiln } from '../../helpers/kiln-process.js';
import { Segment } from './netns.js';

// Signals and escaped errors against the real `kiln serve` process (compiled CLI, in a network
// namespace of its own). Start-up is held at a chosen point by giving --nodes a FIFO: kiln blocks
// reading it until the test writes the file, so a signal lands *during* start-up every time.

let work: string;
let seg: Segment | undefined;
let kiln: KilnProcess;
let crash: string;

const NODE = '{name: pi-01, mac: "dc:a6:32:00:00:01"}';
const serveArgs = (...extra: string[]): string[] => [
  '--no-dhcp',
  '--no-tftp',
  '--state-dir',
  join(work, 'state'),
  '--images-dir',
  join(work, 'dist'),
  ...extra,
];

/** Writes `text` into the FIFO once kiln opens it for reading (a child, so a test never blocks forever). */
async function feed(fifo: string, text: string): Promise<void> {
  await execa('sh', ['-c', 'cat > "$1"', 'sh', fifo], { input: text, timeout: 15_000 });
}

async function fifo(name: string): Promise<string> {
  const f = join(work, name);
  await run('mkfifo', [f]);
  return f;
}

beforeAll(async () => {
  const compiled = await compileKiln();
  work = compiled.work;
  makeFixtureImages(join(work, 'dist'));
  mkdirSync(join(work, 'state'), { recursive: true });
  // Loaded into kiln's process by `node --import`: on SIGUSR2, an exception no handler catches and
  // a rejection nobody awaits, as a bug in kiln would raise them.
  crash = join(work, 'crash.mjs');
  writeFileSync(
    crash,
    [
      "process.on('SIGUSR2', () => {",
      "  setImmediate(() => { throw new Error('kiln-test: thrown outside every handler'); });",
      "  void Promise.reject(new Error('kiln-test: rejected and never awaited'));",
      '});',
      '',
    ].join('\n'),
  );
  seg = new Segment(`g${process.pid % 100000}`);
  await seg.create();
  const ns = await seg.member('sv', '02:00:00:00:02:02', '10.79.0.2/24');
  kiln = new KilnProcess(ns, compiled.entry);
}, 180_000);

afterEach(async () => {
  await kiln?.stop();
});

afterAll(async () => {
  await seg?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('kiln serve signals and escaped errors (real process)', () => {
  it('a SIGHUP during start-up is kept, and reloads once start-up is done', async () => {
    const nodes = await fifo('nodes-hup.yaml');
    kiln.spawn(serveArgs('--nodes', nodes));
    await kiln.waitForLog(/"msg":"registry opened"/);
    kiln.signal('SIGHUP');
    await kiln.waitForLog(/SIGHUP during start-up: reloading once start-up is done/);
    await feed(nodes, `nodes:\n  - ${NODE}\n`);
    await kiln.waitHealthy();
    // the reload reads the file again, which by now declares one node more
    await feed(nodes, `nodes:\n  - ${NODE}\n  - {name: late-01, mac: "dc:a6:32:00:00:02"}\n`);
    await kiln.waitForLog(/reloaded images and nodes file/);
    const names = (JSON.parse(await kiln.get('/api/nodes')) as { nodes: { name: string }[] }).nodes.map((n) => n.name);
    expect(names).toEqual(['late-01', 'pi-01']);
    expect(kiln.log.match(/reloaded images and nodes file/g)).toHaveLength(1);
    expect(await kiln.ended(200)).toBe('running');
  });

  it('SIGTERM during start-up stops it cleanly: exit 0, never serving', async () => {
    const nodes = await fifo('nodes-term.yaml');
    kiln.spawn(serveArgs('--nodes', nodes));
    await kiln.waitForLog(/"msg":"registry opened"/);
    kiln.signal('SIGTERM');
    await kiln.waitForLog(/stopping during start-up/);
    await feed(nodes, `nodes:\n  - ${NODE}\n`);
    expect(await kiln.ended()).toEqual({ exitCode: 0, signal: undefined });
    expect(kiln.log).toMatch(/stopped during start-up/);
    expect(kiln.log).not.toMatch(/kiln serve ready/);
  });

  it('logs and counts an escaped exception and rejection, and keeps serving', async () => {
    kiln.spawn(serveArgs(), ['--import', pathToFileURL(crash).href]);
    await kiln.waitHealthy();
    kiln.signal('SIGUSR2');
    await kiln.waitForLog(/internal error \(uncaughtException\) reached the process; still serving/);
    await kiln.waitForLog(/internal error \(unhandledRejection\) reached the process; still serving/);
    expect(kiln.log).toMatch(/"message":"kiln-test: thrown outside every handler","stack":"Error: kiln-test: thrown outside every handler\\n {4}at /);
    expect(JSON.parse(await kiln.get('/health'))).toMatchObject({ ok: true });
    const metrics = await kiln.get('/metrics');
    expect(metrics).toMatch(/^kiln_internal_errors_total\{kind="uncaughtException"\} 1$/m);
    expect(metrics).toMatch(/^kiln_internal_errors_total\{kind="unhandledRejection"\} 1$/m);
  });

  it('with --exit-on-internal-error, exits 70 instead', async () => {
    kiln.spawn(serveArgs('--exit-on-internal-error'), ['--import', pathToFileURL(crash).href]);
    await kiln.waitHealthy();
    kiln.signal('SIGUSR2');
    expect(await kiln.ended()).toEqual({ exitCode: 70, signal: undefined });
    expect(kiln.log).toMatch(/exiting \(--exit-on-internal-error\)/);
  });
});
