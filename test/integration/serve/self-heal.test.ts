import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDhcp, type DhcpPacket } from '../../../src/serve/dhcp/codec.js';
import { MSG, OPT, pxeVendorOptions, serverId } from '../../../src/serve/dhcp/options.js';
import { run } from '../../../src/util/exec.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { KilnProcess, compileKiln, serveDirs } from '../../helpers/kiln-process.js';
import { must } from '../../helpers/must.js';
import { Segment } from './netns.js';
import { piDiscover } from './pi-dhcp.js';

// Self-healing through the running service, on real sockets in network namespaces on a bridge:
//   kiln ns (kiln serve, proxy mode, 10.78.0.2)   pi ns (crafted Pi 4 DISCOVERs, no address)
//   op ns (10.78.0.3: what the netbooted Pi and its installer do next, over TFTP and HTTP)
// No router is needed: proxy mode's offer carries no address, only where to boot from.

const repo = process.cwd();
const fixtures = join(repo, 'test/fixtures/serve');
const KILN = '10.78.0.2';
/** plan local, self-healing on (the default), installs to its NVMe disk */
const HEAL = { name: 'heal-01', mac: 'dc:a6:32:bb:00:01', serial: '5e1f0001' };
/** plan local, selfHeal: false */
const KEEP = { name: 'keep-01', mac: 'dc:a6:32:bb:00:02', serial: '5e1f0002' };
/** plan install: answered every time, so a silence elsewhere is kiln deciding, not a lost probe */
const CTRL = { name: 'ctrl-01', mac: 'dc:a6:32:bb:00:03', serial: '5e1f0003' };

let work: string;
let apiToken = '';
let image: { name: string; dir: string };
let seg: Segment | undefined;
let kilnNs: string;
let piNs: string;
let opNs: string;
let kiln: KilnProcess | undefined;

/** Broadcasts the DISCOVERs from the Pi namespace; returns kiln's answers by xid. */
async function kilnAnswers(packets: Buffer[], waitMs = 2500): Promise<Map<number, DhcpPacket>> {
  const r = await run(
    'ip',
    ['netns', 'exec', piNs, process.execPath, join(fixtures, 'dhcp-probe.mjs'), String(waitMs), ...packets.map((p) => p.toString('hex'))],
    { timeoutMs: waitMs + 10_000 },
  );
  const out = new Map<number, DhcpPacket>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const j = JSON.parse(line) as { from: string; hex: string };
    const p = parseDhcp(Buffer.from(j.hex, 'hex'));
    if (p.op === 2 && serverId(p) === KILN) out.set(p.xid, p);
  }
  return out;
}

interface ApiReply {
  status: number;
  body: Record<string, unknown>;
}

/** An HTTP request by curl inside a namespace (the test process itself is outside the segment). */
async function api(ns: string, method: string, url: string, opts: { token?: string; body?: unknown } = {}): Promise<ApiReply> {
  const args = ['netns', 'exec', ns, 'curl', '-sS', '-X', method, '-w', '\n%{http_code}', '--max-time', '10'];
  if (opts.token) args.push('-H', `authorization: Bearer ${opts.token}`);
  if (opts.body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(opts.body));
  const r = await run('ip', [...args, url], { timeoutMs: 20_000 });
  const cut = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, cut);
  return { status: Number(r.stdout.slice(cut + 1)), body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const fromOp = (method: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<ApiReply> =>
  api(opNs, method, `http://${KILN}:8080${path}`, opts);

interface NodeView {
  node: { name: string; plan: string; state: string; parked: string | null; disk: string | null; selfHeal: boolean };
  events: { type: string; data: Record<string, unknown> }[];
}

async function nodeView(name: string): Promise<NodeView> {
  const r = await fromOp('GET', `/api/nodes/${name}`, { token: apiToken });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as unknown as NodeView;
}

/** A TFTP read from the op namespace with atftp; undefined when kiln refuses it. */
async function tftpGet(path: string): Promise<Buffer | undefined> {
  const local = join(work, `tftp-${path.replaceAll('/', '_')}`);
  rmSync(local, { force: true });
  const ok = await run('ip', ['netns', 'exec', opNs, 'atftp', '--option', 'blksize 1024', '-g', '-r', path, '-l', local, KILN, '69'], {
    timeoutMs: 30_000,
  }).then(
    () => true,
    () => false,
  );
  return ok ? readFileSync(local) : undefined;
}

const macDashes = (mac: string): string => mac.replaceAll(':', '-');
const types = (v: NodeView): string[] => v.events.map((e) => e.type);
const log = (): string => kiln?.log ?? '';
const serve = (): KilnProcess => must(kiln, 'kiln serve (started in beforeAll)');

beforeAll(async () => {
  const compiled = await compileKiln();
  work = compiled.work;
  image = makeFixtureImages(join(work, 'dist'), { withInstaller: true });
  writeFileSync(
    join(work, 'nodes.yaml'),
    [
      'nodes:',
      `  - {name: ${HEAL.name}, mac: "${HEAL.mac}", serial: "${HEAL.serial}", plan: local, disk: /dev/nvme0n1, selfHeal: true}`,
      // self-heal left out: it is opt-in
      `  - {name: ${KEEP.name}, mac: "${KEEP.mac}", serial: "${KEEP.serial}", plan: local}`,
      `  - {name: ${CTRL.name}, mac: "${CTRL.mac}", serial: "${CTRL.serial}", plan: install}`,
      '',
    ].join('\n'),
  );
  mkdirSync(join(work, 'state'), { recursive: true });

  // a tag of its own: the namespaces of dhcp-netns.test.ts are named by the bare pid
  seg = new Segment(`h${process.pid % 100000}`);
  await seg.create();
  kilnNs = await seg.member('ks', '02:00:00:00:01:02', `${KILN}/24`);
  piNs = await seg.member('pi', HEAL.mac);
  opNs = await seg.member('op', '02:00:00:00:01:03', '10.78.0.3/24');
  kiln = new KilnProcess(kilnNs, compiled.entry);
  await kiln.start(['--mode', 'proxy', '--advertise', KILN, ...serveDirs(work)]);
  apiToken = readFileSync(join(work, 'state', 'api-token'), 'utf8').trim();
}, 180_000);

afterAll(async () => {
  await kiln?.stop();
  await seg?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('self-healing through kiln serve (proxy mode, real sockets)', () => {
  let installToken = '';

  it('a local node that netboots gets the boot offer, is switched to install with the reason recorded, and its files are served', async () => {
    const before = await nodeView(HEAL.name);
    expect(before.node).toMatchObject({ plan: 'local', disk: 'nvme0n1', selfHeal: true, parked: null });
    // nothing is served to a local node before it netboots: the heal is what opens its files
    expect(await tftpGet(`${macDashes(HEAL.mac)}/cmdline.txt`)).toBeUndefined();

    const answers = await kilnAnswers([piDiscover(HEAL, 0x5e1f01)]);
    const offer = must(answers.get(0x5e1f01), `kiln's offer to ${HEAL.name}`, log());
    expect(offer.options.get(OPT.messageType)).toEqual(Buffer.from([MSG.OFFER]));
    expect(offer.yiaddr).toBe('0.0.0.0');
    expect(offer.options.get(OPT.vendorClass)?.toString()).toBe('PXEClient');
    expect(offer.options.get(OPT.vendorSpecific)).toEqual(pxeVendorOptions('Raspberry Pi Boot'));

    const after = await nodeView(HEAL.name);
    expect(after.node).toMatchObject({ plan: 'install', state: 'registered', parked: null });
    const heal = after.events.filter((e) => e.type === 'self-heal');
    expect(heal, JSON.stringify(after.events)).toHaveLength(1);
    expect(String(must(heal[0], 'the self-heal event').data.reason)).toMatch(
      /^plan local but netbooting \(PXEClient:Arch:00000:UNDI:002001\): its disk did not boot$/,
    );
    // seen, healed, then answered
    expect(types(after).filter((t) => ['dhcp-seen', 'self-heal', 'dhcp-offered'].includes(t))).toEqual(['dhcp-seen', 'self-heal', 'dhcp-offered']);
    const all = await fromOp('GET', `/api/events?node=${HEAL.name}`, { token: apiToken });
    expect((all.body.events as { type: string }[]).map((e) => e.type)).toContain('self-heal');

    const cmdline = must(await tftpGet(`${macDashes(HEAL.mac)}/cmdline.txt`), `${HEAL.name}'s cmdline.txt over TFTP`, log()).toString();
    expect(cmdline).toContain(`kiln.node=${HEAL.name} `);
    expect(cmdline).toContain(`kiln.image=http://${KILN}:8080/images/${image.name}/${image.name}.img `);
    expect(cmdline).toContain(`kiln.events=http://${KILN}:8080/api/nodes/${HEAL.name}/events `);
    expect(cmdline).toContain(' kiln.disk=nvme0n1 ');
    installToken = /(?:^| )kiln\.token=([0-9a-f]{64})(?:\s|$)/.exec(cmdline)?.[1] ?? '';
    expect(installToken).toMatch(/^[0-9a-f]{64}$/);

    const pxelinux = (await tftpGet(`pxelinux.cfg/01-${macDashes(HEAL.mac)}`))?.toString();
    expect(pxelinux).toMatch(new RegExp(`^ {2}kernel ${macDashes(HEAL.mac)}/installer/vmlinuz$`, 'm'));
    expect(pxelinux).toMatch(/^ {2}append .* kiln\.disk=nvme0n1 .*kiln\.token=[0-9a-f]{64}$/m);
    expect(await tftpGet(`${HEAL.serial}/start4.elf`)).toEqual(readFileSync(join(image.dir, 'boot/start4.elf')));
    expect(await tftpGet(`${HEAL.serial}/installer/initrd.img`)).toEqual(readFileSync(join(image.dir, 'installer/initrd.img')));
  });

  it("a forged DISCOVER only gets as far as the install token: enrolling needs the old disk's credential, which an attacker lacks", async () => {
    expect(installToken, 'needs the previous test').not.toBe('');
    const events = `/api/nodes/${HEAL.name}/events`;
    const failed = (i: number) => ({ type: 'install-failed', message: `write error on /dev/nvme0n1 (${i})`, disk: '/dev/nvme0n1', attempt: i });
    // the install token was served over TFTP to whoever asked: it reports nothing, opens no seed, changes no node
    expect((await fromOp('POST', events, { body: failed(0) })).status).toBe(401);
    expect((await fromOp('POST', events, { body: failed(0), token: installToken })).status).toBe(403);
    expect((await fromOp('GET', `/seed/${HEAL.name}/${installToken}/user-data`)).status).toBe(403);
    expect((await fromOp('POST', '/api/nodes', { token: installToken, body: { name: 'x-01', mac: '02:00:00:00:09:09' } })).status).toBe(403);
    // and its one enrolment is refused without the credential from the node's old disk, raised as an alert
    const refused = await fromOp('POST', `/api/nodes/${HEAL.name}/enroll`, { token: installToken, body: {} });
    expect(refused.status).toBe(403);
    expect(String(refused.body.error)).toMatch(/credential from its old disk/);
    const v = await nodeView(HEAL.name);
    expect(v.events.filter((e) => e.type === 'alert').map((e) => e.data.kind)).toEqual(['enrol-needs-previous']);
    expect(types(v)).not.toContain('enrolled');
    expect(await serve().get('/metrics')).toMatch(/kiln_security_alerts_total\{kind="enrol-needs-previous"\} 1/);
  });

  it('after the operator reprovisions it, the installer enrolls; its credential reports, and three install-failed park the node', async () => {
    expect((await fromOp('POST', `/api/nodes/${HEAL.name}/reprovision`, { token: apiToken })).status).toBe(200);
    const cmdline = (await tftpGet(`${macDashes(HEAL.mac)}/cmdline.txt`))?.toString() ?? '';
    const token = /(?:^| )kiln\.token=([0-9a-f]{64})(?:\s|$)/.exec(cmdline)?.[1] ?? '';
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(token).not.toBe(installToken);
    const enrolled = await fromOp('POST', `/api/nodes/${HEAL.name}/enroll`, { token, body: {} });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    const credential = String(enrolled.body.credential);
    expect(credential).toMatch(/^[0-9a-f]{64}$/);

    const events = `/api/nodes/${HEAL.name}/events`;
    const failed = (i: number) => ({ type: 'install-failed', message: `write error on /dev/nvme0n1 (${i})`, disk: '/dev/nvme0n1', attempt: i });
    const replies: ApiReply[] = [];
    for (let i = 1; i <= 3; i++) replies.push(await fromOp('POST', events, { token: credential, body: failed(i) }));
    expect(replies.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(replies.map((r) => r.body.parked)).toEqual([false, false, true]);
    expect(String(must(replies[2], 'the third reply').body.parkedReason)).toMatch(/^3 failed installs in a row; last: write error on \/dev\/nvme0n1 \(3\)$/);

    const v = await nodeView(HEAL.name);
    expect(v.node.state).toBe('failed');
    expect(v.node.parked).toMatch(/^3 failed installs in a row/);
    const parked = v.events.filter((e) => e.type === 'parked');
    expect(parked).toHaveLength(1);
    expect(String(must(parked[0], 'the parked event').data.reason)).toMatch(/^3 failed installs in a row/);
    expect(types(v).slice(-4)).toEqual(['install-failed', 'install-failed', 'install-failed', 'parked']);

    const answers = await kilnAnswers([piDiscover(HEAL, 0x5e1f02), piDiscover(CTRL, 0x5e1f03)]);
    expect(answers.has(0x5e1f03), `control node not answered:\n${log()}`).toBe(true);
    expect(answers.has(0x5e1f02)).toBe(false);
    expect(await serve().get('/metrics')).toMatch(/kiln_dhcp_drops_total\{reason="parked"\} [1-9]/);
    // still parked and not healed again: a parked node is not a self-heal candidate
    const again = await nodeView(HEAL.name);
    expect(again.node.parked).not.toBeNull();
    expect(again.events.filter((e) => e.type === 'self-heal')).toHaveLength(1);
  });

  it('a local node without self-heal (the default) that netboots gets no answer and stays local', async () => {
    const answers = await kilnAnswers([piDiscover(KEEP, 0x5e1f04), piDiscover(CTRL, 0x5e1f05)]);
    expect(answers.has(0x5e1f05), `control node not answered:\n${log()}`).toBe(true);
    expect(answers.has(0x5e1f04)).toBe(false);
    const v = await nodeView(KEEP.name);
    expect(v.node).toMatchObject({ plan: 'local', selfHeal: false, parked: null });
    expect(types(v)).toContain('dhcp-seen');
    expect(types(v)).not.toContain('self-heal');
    expect(types(v)).not.toContain('dhcp-offered');
    expect(await serve().get('/metrics')).toMatch(/kiln_dhcp_drops_total\{reason="plan-local"\} [1-9]/);
    expect(await tftpGet(`${macDashes(KEEP.mac)}/cmdline.txt`)).toBeUndefined();
  });
});
