import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK } from '../../../src/builder/stages/disk.js';
import type { BmapRange } from '../../../src/disk/bmap.js';
import { run } from '../../../src/util/exec.js';
import { KilnProcess, compileKiln } from '../../helpers/kiln-process.js';
import { sha256 } from '../../../src/util/hash.js';
import { LoopDisks, MiB, buildSyntheticImage, flipByte, rangeBytes, readAt, runInstaller, writeImageDir, type SyntheticImage } from './harness.js';
import { tempDir } from '../../helpers/tmp.js';
import { must } from '../../helpers/must.js';

// The installer's install loop (install_loop + install_once of src/installer/init.sh), run for real
// by the host's busybox sh against a real `kiln serve` (in a network namespace of its own, on its
// loopback) and loop devices as target disks. What the QEMU end-to-end test only covers on its happy
// path: every failure is reported as install-failed with its reason and leaves the node in the
// installer (never a reboot), and a retry resumes with the ranges already written and verified.

const CHUNK = 8 * MiB; // init.sh CHUNK: one Range request at most
const PATTERN = 0xa5; // what the target disks hold before the install: old data the installer must not leave inside the image
const pattern = Buffer.alloc(MiB, PATTERN);
const GPT_TAIL = Buffer.concat([Buffer.from('EFI PART'), Buffer.alloc(504, PATTERN)]);

let work: string | undefined;
let compiled: { work: string; entry: string } | undefined;
const ns = `kinst${process.pid % 100000}`;
let nsAdded = false;
let kiln: KilnProcess | undefined;
const loops = new LoopDisks();
let im: SyntheticImage;
let ranges: BmapRange[];
const disks: Record<string, string> = {};
/** The corrupt image as served, and the range in which a byte was flipped. */
let corrupt: { img: string; range: BmapRange };
/** The image served to the resume node, and its biggest range (index n), damaged until the retry. */
let resume: { served: string; n: number; range: BmapRange };

const NODES = {
  happy: { name: 'happy-01', mac: '02:00:00:00:0a:01', image: 'good' },
  corrupt: { name: 'corrupt-01', mac: '02:00:00:00:0a:02', image: 'corrupt' },
  resume: { name: 'resume-01', mac: '02:00:00:00:0a:03', image: 'resume' },
  small: { name: 'small-01', mac: '02:00:00:00:0a:04', image: 'good' },
  refused: { name: 'refused-01', mac: '02:00:00:00:0a:05', image: 'gone' },
  stolen: { name: 'stolen-01', mac: '02:00:00:00:0a:06', image: 'good' },
} as const;
type Which = keyof typeof NODES;

interface KilnEvent {
  type: string;
  data: Record<string, unknown>;
}

const log = (): string => kiln?.log ?? '';
const workDir = (): string => must(work, 'the work dir (made in beforeAll)');
const serve = (): KilnProcess => must(kiln, 'kiln serve (started in beforeAll)');
const disk = (w: string): string => must(disks[w], `the loop device of the ${w} node`);
const installToken = (cmdline: string): string => must(/kiln\.token=([0-9a-f]{64})/.exec(cmdline)?.[1], `kiln.token= in ${JSON.stringify(cmdline)}`);

async function nodeView(name: string): Promise<{ node: { state: string; parked: string | null; plan: string }; events: KilnEvent[] }> {
  return JSON.parse(await serve().get(`/api/nodes/${name}`)) as { node: { state: string; parked: string | null; plan: string }; events: KilnEvent[] };
}

const installEvents = (evs: KilnEvent[]): KilnEvent[] => evs.filter((e) => e.type.startsWith('install') || e.type === 'parked');

/** Image bytes and requests kiln served over HTTP so far (its own /metrics). */
async function imageTraffic(): Promise<{ bytes: number; requests: number }> {
  const m = await serve().get('/metrics');
  const num = (re: RegExp): number => Number(re.exec(m)?.[1] ?? 0);
  return { bytes: num(/^kiln_http_bytes_total\{kind="image"\} (\d+)$/m), requests: num(/^kiln_transfer_duration_seconds_count\{protocol="http"\} (\d+)$/m) };
}

/** The node's kernel command line as kiln renders it, over TFTP like the Pi firmware takes it. */
async function cmdlineOf(w: Which, extra: string): Promise<string> {
  const n = NODES[w];
  const local = join(workDir(), `cmdline-${n.name}.txt`);
  await run('ip', ['netns', 'exec', ns, 'busybox', 'tftp', '-g', '-r', `${n.mac.replaceAll(':', '-')}/cmdline.txt`, '-l', local, '127.0.0.1'], {
    timeoutMs: 20_000,
  });
  const line = readFileSync(local, 'utf8').trim();
  expect(line).toContain(`kiln.node=${n.name} `);
  expect(line).toContain(`kiln.disk=${disk(w).slice('/dev/'.length)} `);
  expect(line).toMatch(/ kiln\.token=[0-9a-f]{64}(\s|$)/);
  // no seed URL: the seed needs the credential the installer gets by enrolling
  expect(line).not.toContain('ds=');
  return `${line} ${extra}`.trim();
}

/** A raw POST from inside the namespace (as another host on the LAN would send it); the status line and body. */
async function post(path: string, bearer: string, body: string): Promise<string> {
  const args = ['-s', '-i', '-X', 'POST', '-H', `authorization: Bearer ${bearer}`, '-H', 'content-type: application/json', '--data-binary', body];
  return (await run('ip', ['netns', 'exec', ns, 'curl', ...args, `http://127.0.0.1:8080${path}`], { timeoutMs: 10_000 })).stdout;
}

function scenarioDir(w: Which): string {
  const d = join(workDir(), `run-${w}`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

/** Every mapped range of `disk` (an image-sized copy) hashes to the bmap; every other block is zero, as in the image. */
function expectExactlyTheMappedRanges(disk: Buffer): void {
  expect(disk.length).toBe(im.disk.size);
  let next = 0;
  const bad: string[] = [];
  const zeroed = (from: number, to: number): void => {
    for (let b = from; b < to; b++) {
      const blk = disk.subarray(b * BLOCK, (b + 1) * BLOCK);
      if (blk.some((x) => x !== 0)) bad.push(`unmapped block ${b} is not zero`);
    }
  };
  for (const r of ranges) {
    zeroed(next, r.first);
    if (sha256(disk.subarray(r.first * BLOCK, (r.last + 1) * BLOCK)) !== r.sha256) bad.push(`range ${r.first}-${r.last} does not hash to the bmap`);
    next = r.last + 1;
  }
  zeroed(next, im.disk.size / BLOCK);
  expect(bad.slice(0, 10)).toEqual([]);
}

function calls(lines: string[]): string[] {
  return lines.map((l) => l.replace(/\/dev\/loop\d+/, '/dev/LOOP'));
}

beforeAll(async () => {
  work = tempDir('install-loop');
  compiled = await compileKiln();
  im = await buildSyntheticImage(work);
  ranges = im.disk.ranges;
  const imagesDir = join(work, 'dist');
  await writeImageDir(imagesDir, 'good', im);

  // Corrupted transfer: a byte of the second range no longer matches the bmap (altered after the build).
  corrupt = { img: await writeImageDir(imagesDir, 'corrupt', im), range: must(ranges[1], "the bmap's second range") };
  flipByte(corrupt.img, corrupt.range.first * BLOCK + 100);

  // Resume: the biggest range (the FAT's kernel, two chunks) is damaged on the first attempt;
  // ranges before it are written and verified, ranges after it never reached.
  const served = await writeImageDir(imagesDir, 'resume', im);
  const sizes = ranges.map(rangeBytes);
  const n = sizes.indexOf(Math.max(...sizes));
  const biggest = must(ranges[n], "the bmap's biggest range");
  flipByte(served, biggest.first * BLOCK + rangeBytes(biggest) - 1);
  resume = { served, n, range: biggest };

  disks.happy = await loops.attach(join(work, 'happy.disk'), 64 * MiB, { fill: pattern, tail: GPT_TAIL });
  disks.corrupt = await loops.attach(join(work, 'corrupt.disk'), 64 * MiB);
  disks.resume = await loops.attach(join(work, 'resume.disk'), 64 * MiB, { fill: pattern });
  disks.small = await loops.attach(join(work, 'small.disk'), 16 * MiB);
  disks.refused = await loops.attach(join(work, 'refused.disk'), 64 * MiB);
  disks.stolen = await loops.attach(join(work, 'stolen.disk'), 64 * MiB);

  // Refused transfer: kiln lists the image (its manifest) but its .img is gone, so ranges get 404.
  rmSync(await writeImageDir(imagesDir, 'gone', im));

  writeFileSync(
    join(work, 'nodes.yaml'),
    [
      'nodes:',
      ...Object.entries(NODES).map(
        ([w, n]) =>
          `  - {name: ${n.name}, mac: "${n.mac}", plan: install, image: ${n.image}, disk: ${disk(w).slice(5)}${w === 'happy' ? ', role: server, clusterInit: true' : ''}}`,
      ),
      '',
    ].join('\n'),
  );
  mkdirSync(join(work, 'state'));

  await run('ip', ['netns', 'add', ns]);
  nsAdded = true;
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  kiln = new KilnProcess(ns, compiled.entry);
  await kiln.start([
    '--mode',
    'proxy',
    '--no-dhcp',
    '--listen',
    '127.0.0.1',
    '--advertise',
    '127.0.0.1',
    '--state-dir',
    join(work, 'state'),
    '--images-dir',
    imagesDir,
    '--nodes',
    join(work, 'nodes.yaml'),
  ]);
}, 180_000);

afterAll(async () => {
  await kiln?.stop().catch(() => undefined);
  await loops.detachAll();
  if (nsAdded) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  if (compiled) rmSync(compiled.work, { recursive: true, force: true });
});

describe('installer install loop (init.sh under host busybox, real kiln serve, loop-device disks)', () => {
  it('the synthetic image has what the scenarios need', () => {
    expect(im.disk.size).toBe(48 * MiB);
    expect(ranges.length).toBeGreaterThan(3);
    expect(im.bmap).toContain('<ChecksumType> sha256 </ChecksumType>');
    // the resume fault sits in a multi-chunk range with ranges before and after it
    expect(resume.n).toBeGreaterThan(0);
    expect(resume.n).toBeLessThan(ranges.length - 1);
    expect(rangeBytes(resume.range)).toBeGreaterThan(CHUNK);
  });

  it('happy path: writes exactly the mapped ranges, verifies, leaves the seed pointer, reports installed, then reboots', async () => {
    const dir = scenarioDir('happy');
    const cmdline = await cmdlineOf('happy', 'kiln.retry=0');
    const before = await imageTraffic();
    const snapshot = join(dir, 'snapshot');
    const r = await runInstaller(ns, dir, { cmdline, env: { SNAPSHOT: snapshot } });
    const ctx = `${r.output}\n--- kiln ---\n${log()}`;
    expect(r.exitCode, ctx).toBe(0);
    expect(calls(r.calls), ctx).toEqual(['snapshot /dev/LOOP', 'reboot -f']);
    expect(r.output).toContain('rebooting into the installed system');

    // the disk as written and verified, before the seed pointer: the mapped ranges and nothing else
    expectExactlyTheMappedRanges(readFileSync(snapshot));
    // beyond the image: untouched, except a stale GPT backup header, which is cleared
    const dev = disk('happy');
    const written = readFileSync(join(workDir(), 'happy.disk'));
    expect(written.subarray(im.disk.size, written.length - 512).every((b) => b === PATTERN)).toBe(true);
    expect(written.subarray(written.length - 512).equals(Buffer.alloc(512))).toBe(true);

    // what kiln fetched for it: the bmap, then each mapped range in chunks of at most 8 MiB
    const after = await imageTraffic();
    expect(after.bytes - before.bytes).toBe(im.bmap.length + im.mappedBytes);
    expect(after.requests - before.requests).toBe(1 + ranges.reduce((n, x) => n + Math.ceil(rangeBytes(x) / CHUNK), 0));

    // Both filesystems are sound although the disk held old data where the image has zeros (the
    // installer zeroes what the block map leaves out: ext4 and FAT metadata rely on those zeros).
    await run('e2fsck', ['-fn', `${dev}p2`]);
    await run('fsck.vfat', ['-n', `${dev}p1`]);
    // Partition 2 carries the node's credential and its seed URL, which contains it (read with
    // debugfs, not mounted again); only root may read them.
    const cat = async (p: string): Promise<string> => (await run('debugfs', ['-R', `cat ${p}`, `${dev}p2`])).stdout;
    const credential = (await cat('/var/lib/kiln/credential')).trim();
    expect(credential).toMatch(/^[0-9a-f]{64}$/);
    const seed = `http://127.0.0.1:8080/seed/${NODES.happy.name}/${credential}/`;
    expect(await cat('/etc/cloud/cloud.cfg.d/95-kiln-seed.cfg')).toContain(`datasource:\n  NoCloud:\n    seedfrom: ${seed}\n`);
    expect(await cat('/var/lib/cloud/seed/nocloud-net/meta-data')).toBe(`seedfrom: ${seed}\n`);
    expect(await cat('/var/lib/cloud/seed/nocloud-net/user-data')).toBe('#cloud-config\n{}\n');
    for (const f of ['/var/lib/kiln/credential', '/etc/cloud/cloud.cfg.d/95-kiln-seed.cfg', '/var/lib/cloud/seed/nocloud-net/meta-data']) {
      expect((await run('debugfs', ['-R', `stat ${f}`, `${dev}p2`])).stdout, f).toMatch(/Mode:\s+0600\b/);
    }
    // that URL opens the seed; the install token from the command line no longer opens anything
    const seedReply = await run('ip', ['netns', 'exec', ns, 'busybox', 'wget', '-q', '-O', '-', `${seed}user-data`]);
    expect(seedReply.stdout).toContain('hostname: "happy-01"');
    expect(seedReply.stdout).toContain(`KILN_REPORT_TOKEN='${credential}'`);
    const token = installToken(cmdline);
    expect(await post(`/api/nodes/${NODES.happy.name}/enroll`, token, '{}')).toMatch(/^HTTP\/1\.1 403/);
    expect(await post(`/api/nodes/${NODES.happy.name}/events`, token, '{"type":"install-failed"}')).toMatch(/^HTTP\/1\.1 403/);
    const dumped = join(dir, 'payload');
    await run('debugfs', ['-R', `dump ${im.payload.path} ${dumped}`, `${dev}p2`]);
    expect(sha256(readFileSync(dumped))).toBe(im.payload.sha256);

    const v = await nodeView(NODES.happy.name);
    const evs = installEvents(v.events);
    expect(evs[0]).toMatchObject({ type: 'install-started', data: { disk: dev, bytes: 0, total: im.mappedBytes, attempt: 1 } });
    const progress = evs.filter((e) => e.type === 'install-progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(must(progress.at(-1), 'the last install-progress event').data).toMatchObject({ progress: 100, bytes: im.mappedBytes, total: im.mappedBytes });
    expect(evs.at(-1)).toMatchObject({
      type: 'installed',
      data: { sha256: im.disk.sha256, disk: dev, bytes: im.mappedBytes, total: im.mappedBytes, attempt: 1 },
    });
    expect(evs.map((e) => e.type).filter((t) => t !== 'install-progress')).toEqual(['install-started', 'installed']);
    expect(v.events.filter((e) => e.type === 'enrolled')).toHaveLength(1);
    expect(v.node.state).toBe('installed');
  });

  it('a stolen install token: whoever enrolls first wins, the installer then refuses to write, and kiln raises an alert', async () => {
    const dir = scenarioDir('stolen');
    const cmdline = await cmdlineOf('stolen', 'kiln.retry=0');
    const token = installToken(cmdline);
    // another host on the LAN read the same cmdline.txt over TFTP and enrolled first
    expect(await post(`/api/nodes/${NODES.stolen.name}/enroll`, token, '{}')).toMatch(/^HTTP\/1\.1 201/);
    const r = await runInstaller(ns, dir, { cmdline });
    const ctx = `${r.output}\n--- kiln ---\n${log()}`;
    expect(r.exitCode, ctx).toBe(0);
    expect(calls(r.calls), ctx).toEqual(['enroll-refused', 'console_shell']);
    expect(r.output).toMatch(/kiln refused the enrolment: HTTP\/1\.1 409 .*already used/);
    expect(readFileSync(join(workDir(), 'stolen.disk')).every((b) => b === 0)).toBe(true);
    const v = await nodeView(NODES.stolen.name);
    expect(v.events.filter((e) => e.type === 'alert').map((e) => e.data.kind)).toEqual(['enrol-reused']);
    expect(installEvents(v.events)).toEqual([]);
  });

  it('corrupted transfer: install-failed names the blocks and both sha256, retries stay in the installer, kiln parks it, no reboot', async () => {
    const dir = scenarioDir('corrupt');
    const cmdline = await cmdlineOf('corrupt', 'kiln.retry=1');
    const r = await runInstaller(ns, dir, { cmdline });
    const ctx = `${r.output}\n--- kiln ---\n${log()}`;
    expect(r.exitCode, ctx).toBe(0);
    // two waits between three attempts, then the shell: never a reboot
    expect(calls(r.calls), ctx).toEqual(['retry-wait 1', 'retry-wait 1', 'console_shell']);
    expect(r.output).toContain('kiln parked this node after repeated failures; staying here');

    const bad = corrupt.range;
    const servedSha = sha256(readAt(corrupt.img, bad.first * BLOCK, rangeBytes(bad)));
    const reason = `blocks ${bad.first}-${bad.last}: sha256 as written ${servedSha}, the block map says ${bad.sha256}`;
    const v = await nodeView(NODES.corrupt.name);
    const evs = installEvents(v.events);
    expect(evs.map((e) => e.type)).toEqual([
      'install-started',
      'install-failed',
      'install-started',
      'install-failed',
      'install-started',
      'install-failed',
      'parked',
    ]);
    const failed = evs.filter((e) => e.type === 'install-failed');
    expect(failed.map((e) => e.data.attempt)).toEqual([1, 2, 3]);
    for (const f of failed) expect(String(f.data.message).trim()).toBe(reason);
    expect(v.node.parked).toMatch(/^3 failed installs in a row; last: blocks /);
    expect(v.node.state).toBe('failed');
    // what the node says on its console names the same reason
    expect(r.output).toContain(`install-failed: ${reason}`);
  });

  it('resume: after a failure in range N, the retry skips the ranges already done and completes; the disk hashes right', async () => {
    const dir = scenarioDir('resume');
    const cmdline = await cmdlineOf('resume', 'kiln.retry=7');
    const pristine = im.img;
    const before = await imageTraffic();
    const snapshot = join(dir, 'snapshot');
    const r = await runInstaller(ns, dir, {
      cmdline,
      env: {
        SNAPSHOT: snapshot,
        // between the attempts: keep what attempt 1 recorded as done, and repair the served image
        ON_RETRY: `cp "$STATE/done" "${join(dir, 'done-1')}" && cp "${pristine}" "${resume.served}"`,
      },
    });
    const ctx = `${r.output}\n--- kiln ---\n${log()}`;
    expect(r.exitCode, ctx).toBe(0);
    expect(calls(r.calls), ctx).toEqual(['retry-wait 7', 'snapshot /dev/LOOP', 'reboot -f']);

    const { n, range: bad } = resume;
    const line = (x: BmapRange): string => `${x.first} ${x.last} ${x.sha256}`;
    // `zeroed`: the gaps were zeroed once, in attempt 1; attempt 2 did not zero them again
    expect(readFileSync(join(dir, 'done-1'), 'utf8').split('\n').filter(Boolean)).toEqual(['zeroed', ...ranges.slice(0, n).map(line)]);
    expect(readFileSync(join(dir, 'state/done'), 'utf8').split('\n').filter(Boolean)).toEqual(['zeroed', ...ranges.map(line)]);

    // attempt 1 fetched ranges 0..N, attempt 2 only N..end (plus the bmap each time)
    const sum = (rs: BmapRange[]): number => rs.reduce((s, x) => s + rangeBytes(x), 0);
    const chunks = (rs: BmapRange[]): number => rs.reduce((s, x) => s + Math.ceil(rangeBytes(x) / CHUNK), 0);
    const after = await imageTraffic();
    expect(after.bytes - before.bytes).toBe(2 * im.bmap.length + sum(ranges.slice(0, n + 1)) + sum(ranges.slice(n)));
    expect(after.requests - before.requests).toBe(2 + chunks(ranges.slice(0, n + 1)) + chunks(ranges.slice(n)));

    expectExactlyTheMappedRanges(readFileSync(snapshot));

    const v = await nodeView(NODES.resume.name);
    const evs = installEvents(v.events).filter((e) => e.type !== 'install-progress');
    expect(evs.map((e) => [e.type, e.data.attempt])).toEqual([
      ['install-started', 1],
      ['install-failed', 1],
      ['install-started', 2],
      ['installed', 2],
    ]);
    expect(String(must(evs[1], 'the install-failed event').data.message)).toMatch(
      new RegExp(`^blocks ${bad.first}-${bad.last}: sha256 as written [0-9a-f]{64}, the block map says ${bad.sha256}`),
    );
    expect(must(evs[3], 'the installed event').data).toMatchObject({ sha256: im.disk.sha256, bytes: im.mappedBytes });
    expect(v.node.state).toBe('installed');
  });

  it('a disk smaller than the image: refused naming both sizes, nothing written, kiln.retry=0 stays in the installer', async () => {
    const dir = scenarioDir('small');
    const cmdline = await cmdlineOf('small', 'kiln.retry=0');
    const before = await imageTraffic();
    const r = await runInstaller(ns, dir, { cmdline });
    const ctx = `${r.output}\n--- kiln ---\n${log()}`;
    expect(r.exitCode, ctx).toBe(0);
    expect(calls(r.calls), ctx).toEqual(['console_shell']);
    expect(r.output).toContain('not retrying (kiln.retry=0)');

    const dev = disk('small');
    const v = await nodeView(NODES.small.name);
    const evs = installEvents(v.events);
    expect(evs.map((e) => e.type)).toEqual(['install-failed']);
    expect(must(evs[0], 'the install-failed event').data).toMatchObject({
      message: `${dev} holds ${16 * MiB} bytes, the image needs ${im.disk.size}`,
      attempt: 1,
    });
    // only the bmap was fetched; the disk is as it was
    expect((await imageTraffic()).bytes - before.bytes).toBe(im.bmap.length);
    expect(readFileSync(join(workDir(), 'small.disk')).every((b) => b === 0)).toBe(true);
  });

  it('a refused transfer: install-failed names the range, the byte and what kiln answered; nothing written', async () => {
    const dir = scenarioDir('refused');
    const cmdline = await cmdlineOf('refused', 'kiln.retry=0');
    const r = await runInstaller(ns, dir, { cmdline });
    const ctx = `${r.output}\n--- kiln ---\n${log()}`;
    expect(r.exitCode, ctx).toBe(0);
    expect(calls(r.calls), ctx).toEqual(['console_shell']);

    const first = must(ranges[0], "the bmap's first range");
    const end = Math.min(rangeBytes(first), CHUNK) - 1;
    const url = `http://127.0.0.1:8080/images/gone/gone.img`;
    const v = await nodeView(NODES.refused.name);
    const evs = installEvents(v.events);
    expect(evs.map((e) => e.type)).toEqual(['install-started', 'install-failed']);
    expect(String(must(evs[1], 'the install-failed event').data.message).trim()).toBe(
      `blocks ${first.first}-${first.last}: transfer at byte 0 failed: GET ${url} bytes 0-${end}: HTTP/1.1 404 Not Found`,
    );
    expect(v.node.state).toBe('failed');
    expect(readFileSync(join(workDir(), 'refused.disk')).every((b) => b === 0)).toBe(true);
  });
});
