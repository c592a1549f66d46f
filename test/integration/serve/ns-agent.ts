import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { DhcpParseError, parseDhcp } from '../../../src/serve/dhcp/codec.js';
import { MSG } from '../../../src/serve/dhcp/options.js';
import { dhcpCase, httpCase, tftpListenCase, tftpTransferCase, type HttpCase, type HttpTargets } from './fuzz-inputs.js';
import { DhcpClientPort, piDiscover, piRequest, type DhcpAnswer, type PiIdentity } from './pi-dhcp.js';
import { Prng } from './prng.js';
import { OP, ack, rrq, tftpError, tftpGet } from './pi-tftp.js';

// Runs INSIDE a client network namespace (`ip netns exec <ns> node ns-agent.js`): the test process
// stays in the host namespace and drives this agent over stdin/stdout, one JSON object per line.
// Everything that must come from the Pis' side of the segment (DHCP broadcasts to port 67, TFTP
// and HTTP to kiln's advertised address) is sent from here.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const bump = (m: Record<string, number>, k: string, n = 1): void => {
  m[k] = (m[k] ?? 0) + n;
};
const preview = (b: Buffer): string => JSON.stringify(b.subarray(0, 120).toString('latin1'));

function bindUdp(address?: string, port = 0): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
  });
}

/** Sends and waits for the kernel to take it; a socket closed meanwhile (its transfer ended) is not an error. */
function sendUdp(s: Socket, data: Buffer, port: number, host: string): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.send(data, port, host, () => resolve());
    } catch {
      resolve();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// protocol

export interface TftpGetArgs {
  server: string;
  file: string;
  blksize?: number;
  tsize?: boolean;
  probe?: 'oack' | 'first-block';
  localAddress?: string;
  timeoutMs?: number;
  maxRetries?: number;
  deadlineMs?: number;
  /** Seeded client-side loss of incoming DATA. */
  dropRate?: number;
  seed?: number;
}

export interface TftpGetSummary {
  ok: boolean;
  size: number;
  sha256: string;
  /** The content, when it is a small text file (rendered config.txt, cmdline.txt). */
  text?: string;
  error?: { code: number; message: string };
  oack?: Record<string, string>;
  resent: number;
  duplicates: number;
  dropped: number;
  ms: number;
}

export interface HttpArgs {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  localAddress?: string;
  timeoutMs?: number;
}

export interface HttpSummary {
  status: number;
  headers: Record<string, string>;
  size: number;
  sha256: string;
  text?: string;
}

export interface NodeSpec extends PiIdentity {
  name: string;
}

export interface BootArgs {
  server: string;
  httpPort: number;
  iface: string;
  prefixLen: number;
  nodes: NodeSpec[];
  /** Paths under the node's serial prefix, in boot order; `missing` ones must be refused. */
  files: { path: string; missing?: boolean }[];
  /** Range header values for the image. */
  ranges: string[];
  imagePath: string;
  dropRate: number;
  seed: number;
  tftpTimeoutMs: number;
  deadlineMs: number;
  /** How long a node waits for a DHCP answer before it repeats its DISCOVER or REQUEST, and how often it tries (default 1000 ms, 10). */
  dhcpRetryMs?: number;
  dhcpTries?: number;
  /**
   * Then what the installer does first: trade the install token from its cmdline.txt for the
   * node's credential (POST /api/nodes/<name>/enroll) and post this event with it.
   */
  report?: Record<string, unknown>;
}

export interface NodeBoot {
  name: string;
  ok: boolean;
  error?: string;
  ip?: string;
  dhcp: { discovers: number; requests: number; offer?: DhcpAnswer; ack?: DhcpAnswer };
  files: (TftpGetSummary & { path: string })[];
  ranges: (HttpSummary & { range: string })[];
  ms: { total: number; dhcp: number; tftp: number; http: number; report?: number };
  /** The answers to the enrolment and the event (BootArgs.report). */
  report?: { enroll: number; event: number };
}

export interface DhcpFuzzResult {
  sent: number;
  /** Cases kiln's own codec refuses: each must be counted as drops{reason="malformed"}. */
  malformed: number;
  /** Cases on which the codec threw something other than its parse error (a bug). */
  codecCrashes: string[];
  kinds: Record<string, number>;
  /** Datagrams kiln sent to port 68 meanwhile. */
  answers: number;
  /** Sends the kernel refused. */
  sendErrors: number;
  ms: number;
}

export interface TftpFuzzResult {
  listen: { sent: number; under4: number; over512: number; kinds: Record<string, number>; replies: Record<string, number>; transfersAborted: number };
  transfer: {
    sent: number;
    kinds: Record<string, number>;
    fromOwnPort: number;
    fromStranger: number;
    /** Datagrams under 4 bytes sent: no transfer may take them for anything but junk. */
    under4: number;
    /** ERROR 5 (unknown transfer ID) answers the stranger got, as RFC 1350 wants. */
    strangerTidErrors: number;
    liveStarted: number;
    endedByError: number;
    endedSilent: number;
    /** The fuzzer ran out of live transfers to aim at (the server stopped answering). */
    stalled: boolean;
  };
  ms: number;
}

export interface HttpFuzzResult {
  sent: number;
  kinds: Record<string, number>;
  /** First status line of each answer, by status; `none` when the server closed or stayed silent. */
  statuses: Record<string, number>;
  serverErrors: { kind: string; status: number; request: string }[];
  traversalHits: { status: number; request: string }[];
  leaks: { kind: string; what: string; request: string }[];
  ms: number;
}

export interface AgentApi {
  ping: { args: Record<string, never>; result: { pid: number } };
  'dhcp-exchange': {
    args: { pi: PiIdentity; xid: number; server: string; full: boolean; timeoutMs: number; tries: number };
    result: { offer?: DhcpAnswer; ack?: DhcpAnswer; sent: number };
  };
  'dhcp-fuzz': {
    args: { seed: number; count: number; server: string; pi: PiIdentity; serials: string[]; pool: { start: string; end: string } };
    result: DhcpFuzzResult;
  };
  'tftp-get': { args: TftpGetArgs; result: TftpGetSummary };
  'tftp-fuzz': {
    args: {
      seed: number;
      listenCount: number;
      transferCount: number;
      server: string;
      names: string[];
      prefix: string;
      liveFile: string;
      live: number;
      deadlineMs: number;
    };
    result: TftpFuzzResult;
  };
  http: { args: HttpArgs; result: HttpSummary };
  'http-fuzz': { args: { seed: number; count: number; port: number; concurrency: number; targets: HttpTargets; secrets: string[] }; result: HttpFuzzResult };
  'boot-many': { args: BootArgs; result: { nodes: NodeBoot[]; ms: number } };
}

export type AgentCommand = keyof AgentApi;

// ---------------------------------------------------------------------------------------------
// DHCP

let dhcpPort: DhcpClientPort | undefined;
async function dhcp(): Promise<DhcpClientPort> {
  if (!dhcpPort) {
    dhcpPort = new DhcpClientPort();
    await dhcpPort.open();
  }
  return dhcpPort;
}

async function dhcpExchange(a: AgentApi['dhcp-exchange']['args']): Promise<AgentApi['dhcp-exchange']['result']> {
  const port = await dhcp();
  const d = await port.exchange(piDiscover(a.pi, a.xid), a.xid, a.timeoutMs, a.tries);
  if (!d.answer || !a.full) return { offer: d.answer, sent: d.sent };
  const r = await port.exchange(piRequest(a.pi, a.xid, d.answer.yiaddr, a.server), a.xid, a.timeoutMs, a.tries);
  return { offer: d.answer, ack: r.answer, sent: d.sent + r.sent };
}

async function dhcpFuzz(a: AgentApi['dhcp-fuzz']['args']): Promise<DhcpFuzzResult> {
  const started = Date.now();
  const port = await dhcp();
  const before = port.other;
  const errorsBefore = port.sendErrors;
  const rng = new Prng(a.seed);
  const templates = { discover: piDiscover(a.pi, 0x0f0f0001), request: piRequest(a.pi, 0x0f0f0002, a.pool.start, a.server), serials: a.serials, pool: a.pool };
  const r: DhcpFuzzResult = { sent: 0, malformed: 0, codecCrashes: [], kinds: {}, answers: 0, sendErrors: 0, ms: 0 };
  for (let i = 0; i < a.count; i++) {
    const c = dhcpCase(rng, templates);
    bump(r.kinds, c.kind);
    try {
      parseDhcp(c.data);
    } catch (err) {
      if (err instanceof DhcpParseError) r.malformed++;
      else r.codecCrashes.push(`${c.kind}: ${(err as Error).message}: ${c.data.toString('hex')}`);
    }
    // broadcast reaches kiln's wildcard socket, unicast its server-address socket: both are fuzzed
    await port.send(c.data, rng.chance(0.5) ? '255.255.255.255' : a.server);
    r.sent++;
    if (i % 4 === 3) await sleep(2);
  }
  await sleep(300);
  r.answers = port.other - before;
  r.sendErrors = port.sendErrors - errorsBefore;
  r.ms = Date.now() - started;
  return r;
}

// ---------------------------------------------------------------------------------------------
// TFTP

async function tftpGetCmd(a: TftpGetArgs): Promise<TftpGetSummary> {
  const r = await tftpGet({
    server: a.server,
    file: a.file,
    blksize: a.blksize,
    tsize: a.tsize,
    probe: a.probe,
    localAddress: a.localAddress,
    timeoutMs: a.timeoutMs,
    maxRetries: a.maxRetries,
    deadlineMs: a.deadlineMs,
    dropData: a.dropRate ? { rate: a.dropRate, rng: new Prng(a.seed ?? 1) } : undefined,
  });
  const small = r.data.length <= 4096 && !r.data.includes(0);
  return {
    ok: r.ok,
    size: r.data.length,
    sha256: sha256(r.data),
    text: small ? r.data.toString('latin1') : undefined,
    error: r.error,
    oack: r.oack,
    resent: r.resent,
    duplicates: r.duplicates,
    dropped: r.dropped,
    ms: r.ms,
  };
}

/** A slow but well-behaved read that keeps a transfer port open for the fuzzer to aim at. */
class LiveTransfer {
  tid: number | undefined;
  last: Buffer | undefined;
  block = 0;
  ended: 'error' | 'silent' | undefined;
  private lastHeard = Date.now();
  private watchdog: NodeJS.Timeout;

  private constructor(
    readonly sock: Socket,
    private readonly server: string,
    file: string,
    options: Record<string, string>,
  ) {
    sock.on('message', (m, rinfo) => {
      if (this.ended || rinfo.address !== server) return;
      if (this.tid === undefined) this.tid = rinfo.port;
      if (rinfo.port !== this.tid || m.length < 4) return;
      this.lastHeard = Date.now();
      const op = m.readUInt16BE(0);
      if (op === OP.ERROR) return this.end('error');
      if (op === OP.OACK) {
        this.last = Buffer.from(m);
        setTimeout(() => this.sendOwn(ack(0)), 15);
      }
      if (op === OP.DATA) {
        const b = m.readUInt16BE(2);
        if (b === ((this.block + 1) & 0xffff)) {
          this.block = b;
          this.last = Buffer.from(m);
          setTimeout(() => this.sendOwn(ack(b)), 15);
        }
      }
    });
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > 1500) this.end('silent');
    }, 250);
    this.sendOwn(rrq(file, options), 69);
  }

  static async start(server: string, file: string, options: Record<string, string>): Promise<LiveTransfer> {
    return new LiveTransfer(await bindUdp(), server, file, options);
  }

  private sendOwn(data: Buffer, port = this.tid): void {
    if (!this.ended && port !== undefined) this.sock.send(data, port, this.server);
  }

  end(why: 'error' | 'silent'): void {
    if (this.ended) return;
    this.ended = why;
    clearInterval(this.watchdog);
    // let a last ERROR go out before the socket closes
    setTimeout(() => this.sock.close(() => undefined), 50);
  }

  abort(): void {
    if (this.ended || this.tid === undefined) {
      this.end('error');
      return;
    }
    void sendUdp(this.sock, tftpError(0, 'fuzz done'), this.tid, this.server).then(() => this.end('error'));
  }
}

async function tftpFuzz(a: AgentApi['tftp-fuzz']['args']): Promise<TftpFuzzResult> {
  const started = Date.now();
  const deadline = started + a.deadlineMs;
  const root = new Prng(a.seed);
  const rl = root.fork('tftp-listen');
  const rt = root.fork('tftp-transfer');
  const r: TftpFuzzResult = {
    listen: { sent: 0, under4: 0, over512: 0, kinds: {}, replies: {}, transfersAborted: 0 },
    transfer: {
      sent: 0,
      kinds: {},
      fromOwnPort: 0,
      fromStranger: 0,
      under4: 0,
      strangerTidErrors: 0,
      liveStarted: 0,
      endedByError: 0,
      endedSilent: 0,
      stalled: false,
    },
    ms: 0,
  };

  // 1. the listening port, from several source ports; transfers the fuzz starts are aborted at once
  const socks = await Promise.all(Array.from({ length: 6 }, () => bindUdp()));
  for (const s of socks) {
    s.on('message', (m, rinfo) => {
      const op = m.length >= 2 ? m.readUInt16BE(0) : -1;
      bump(r.listen.replies, String(op));
      if (rinfo.port !== 69 && (op === OP.OACK || op === OP.DATA)) {
        r.listen.transfersAborted++;
        s.send(tftpError(0, 'fuzz: not wanted'), rinfo.port, rinfo.address);
      }
    });
  }
  for (let i = 0; i < a.listenCount && Date.now() < deadline; i++) {
    const c = tftpListenCase(rl, a.names, a.prefix);
    bump(r.listen.kinds, c.kind);
    if (c.data.length < 4) r.listen.under4++;
    if (c.data.length > 512) r.listen.over512++;
    await sendUdp(socks[i % socks.length] as Socket, c.data, 69, a.server);
    r.listen.sent++;
    if (i % 2 === 1) await sleep(1);
  }

  // 2. live transfers' ports, from the transfer's own port and from a stranger
  const stranger = await bindUdp();
  stranger.on('message', (m) => {
    if (m.length >= 4 && m.readUInt16BE(0) === OP.ERROR && m.readUInt16BE(2) === 5) r.transfer.strangerTidErrors++;
  });
  const optionSets: Record<string, string>[] = [{}, { blksize: '1024', tsize: '0' }, { blksize: '512' }];
  const live: LiveTransfer[] = [];
  const refill = async (): Promise<void> => {
    for (let i = live.length - 1; i >= 0; i--) {
      const t = live[i] as LiveTransfer;
      if (t.ended) {
        if (t.ended === 'error') r.transfer.endedByError++;
        else r.transfer.endedSilent++;
        live.splice(i, 1);
      }
    }
    while (live.length < a.live && r.transfer.liveStarted < a.transferCount + a.live) {
      live.push(await LiveTransfer.start(a.server, a.liveFile, rt.pick(optionSets)));
      r.transfer.liveStarted++;
    }
  };
  let idleSince = Date.now();
  for (let i = 0; i < a.transferCount && Date.now() < deadline; ) {
    await refill();
    const ready = live.filter((t) => t.tid !== undefined && !t.ended);
    if (ready.length === 0) {
      if (Date.now() - idleSince > 3000) {
        r.transfer.stalled = true;
        break;
      }
      await sleep(10);
      continue;
    }
    idleSince = Date.now();
    for (let j = 0; j < 5 && i < a.transferCount; j++, i++) {
      const t = rt.pick(ready);
      const c = tftpTransferCase(rt, t.last, t.block);
      bump(r.transfer.kinds, c.kind);
      if (c.data.length < 4) r.transfer.under4++;
      const own = rt.chance(0.5);
      if (own) r.transfer.fromOwnPort++;
      else r.transfer.fromStranger++;
      await sendUdp(own ? t.sock : stranger, c.data, t.tid as number, a.server);
      r.transfer.sent++;
      // an ERROR from the client's own port ends the transfer on the server, which says nothing back
      if (own && c.data.length >= 4 && c.data.readUInt16BE(0) === OP.ERROR) t.end('error');
    }
    await sleep(3);
  }
  for (const t of live) t.abort();
  await sleep(200);
  await refill();
  for (const s of [...socks, stranger]) s.close();
  r.ms = Date.now() - started;
  return r;
}

// ---------------------------------------------------------------------------------------------
// HTTP

function httpCmd(a: HttpArgs): Promise<HttpSummary> {
  return new Promise((resolve, reject) => {
    const url = new URL(a.url);
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: a.method ?? 'GET',
        headers: a.headers,
        localAddress: a.localAddress,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({
            status: res.statusCode ?? 0,
            headers,
            size: body.length,
            sha256: sha256(body),
            text: body.length <= 65536 ? body.toString('utf8') : undefined,
          });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(a.timeoutMs ?? 30_000, () => req.destroy(new Error('timeout')));
    req.end(a.body);
  });
}

/** One raw TCP exchange: write the chunks, read what comes back until it is complete, closed or late. */
function rawExchange(host: string, port: number, c: HttpCase, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let size = 0;
    let settled = false;
    const sock = connect({ host, port });
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(got));
    };
    const timer = setTimeout(done, timeoutMs);
    sock.on('error', done);
    sock.on('close', done);
    sock.on('data', (d: Buffer) => {
      got.push(d);
      size += d.length;
      if (size > 8 << 20) return done();
      const all = Buffer.concat(got);
      const end = all.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = all.subarray(0, end).toString('latin1');
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (cl && all.length - end - 4 >= Number(cl[1])) done();
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head) && all.subarray(end).includes('\r\n0\r\n\r\n')) done();
    });
    sock.on('connect', () => {
      void (async () => {
        for (const chunk of c.chunks) {
          if (settled) return;
          sock.write(chunk);
          if (c.pauseMs) await sleep(c.pauseMs);
        }
        if (c.hangUp) done();
      })();
    });
  });
}

async function httpFuzz(a: AgentApi['http-fuzz']['args']): Promise<HttpFuzzResult> {
  const started = Date.now();
  const rng = new Prng(a.seed);
  const cases: HttpCase[] = Array.from({ length: a.count }, () => httpCase(rng, a.targets));
  const r: HttpFuzzResult = { sent: 0, kinds: {}, statuses: {}, serverErrors: [], traversalHits: [], leaks: [], ms: 0 };
  const needles = [...a.secrets.filter((s) => s.length >= 16), 'root:x:0:0'];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++] as HttpCase;
      bump(r.kinds, c.kind);
      const answer = await rawExchange(a.targets.host, a.port, c, 800);
      r.sent++;
      const req = preview(Buffer.concat(c.chunks));
      const text = answer.toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      bump(r.statuses, statuses[0] === undefined ? 'none' : String(statuses[0]));
      for (const s of statuses) if (s >= 500) r.serverErrors.push({ kind: c.kind, status: s, request: req });
      if (c.traversal && statuses.some((s) => s >= 200 && s < 300)) r.traversalHits.push({ status: statuses[0] ?? 0, request: req });
      for (const n of needles) if (text.includes(n)) r.leaks.push({ kind: c.kind, what: n === 'root:x:0:0' ? '/etc/passwd' : 'a secret', request: req });
    }
  };
  await Promise.all(Array.from({ length: a.concurrency }, worker));
  r.ms = Date.now() - started;
  return r;
}

// ---------------------------------------------------------------------------------------------
// 50 Pis booting at once

function ipAddrAdd(ip: string, prefixLen: number, iface: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['addr', 'add', `${ip}/${prefixLen}`, 'dev', iface], (err, _out, stderr) => {
      if (err && !/exists/.test(stderr)) reject(new Error(`ip addr add ${ip}: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

async function bootOne(a: BootArgs, n: NodeSpec, index: number, root: Prng): Promise<NodeBoot> {
  const t0 = Date.now();
  const r: NodeBoot = { name: n.name, ok: false, dhcp: { discovers: 0, requests: 0 }, files: [], ranges: [], ms: { total: 0, dhcp: 0, tftp: 0, http: 0 } };
  const deadline = t0 + a.deadlineMs;
  try {
    const port = await dhcp();
    const xid = (0x4b000000 + index) >>> 0;
    // a Pi repeats its DISCOVER (and REQUEST) on silence; under loss the answer may be the one lost
    const d = await port.exchange(piDiscover(n, xid), xid, a.dhcpRetryMs ?? 1000, a.dhcpTries ?? 10);
    r.dhcp.discovers = d.sent;
    r.dhcp.offer = d.answer;
    if (d.answer?.type !== MSG.OFFER) throw new Error('no DHCP offer');
    // an OFFER arriving now answers a repeated DISCOVER: not the answer to this REQUEST
    const q = await port.exchange(piRequest(n, xid, d.answer.yiaddr, a.server), xid, a.dhcpRetryMs ?? 1000, a.dhcpTries ?? 10, [MSG.ACK, MSG.NAK]);
    r.dhcp.requests = q.sent;
    r.dhcp.ack = q.answer;
    if (q.answer?.type !== MSG.ACK) throw new Error(`no DHCP ACK (got type ${q.answer?.type ?? 'none'})`);
    const ip = q.answer.yiaddr;
    r.ip = ip;
    await ipAddrAdd(ip, a.prefixLen, a.iface);
    const t1 = Date.now();
    r.ms.dhcp = t1 - t0;

    const drop = root.fork(`drop-${n.name}`);
    for (const f of a.files) {
      const got = await tftpGetCmd({
        server: a.server,
        file: `${n.serial}/${f.path}`,
        blksize: 1024,
        tsize: true,
        localAddress: ip,
        timeoutMs: a.tftpTimeoutMs,
        maxRetries: 8,
        deadlineMs: Math.max(1000, deadline - Date.now()),
        dropRate: a.dropRate,
        seed: drop.u32(),
      });
      r.files.push({ path: f.path, ...got });
      if (f.missing ? got.error?.code !== 1 : !got.ok)
        throw new Error(`TFTP ${f.path}: ${got.error ? `${got.error.code} ${got.error.message}` : 'should have been refused'}`);
    }
    const t2 = Date.now();
    r.ms.tftp = t2 - t1;

    for (const range of a.ranges) {
      const h = await httpCmd({
        url: `http://${a.server}:${a.httpPort}${a.imagePath}`,
        headers: { range },
        localAddress: ip,
        timeoutMs: Math.max(1000, deadline - Date.now()),
      });
      r.ranges.push({ range, ...h, text: undefined });
      if (h.status !== 206) throw new Error(`HTTP ${range}: status ${h.status}`);
    }
    r.ms.http = Date.now() - t2;
    if (a.report) {
      const t3 = Date.now();
      const token = /\bkiln\.token=([0-9a-f]{64})\b/.exec(r.files.find((f) => f.path === 'cmdline.txt')?.text ?? '')?.[1];
      if (!token) throw new Error('no kiln.token in cmdline.txt');
      const api = `http://${a.server}:${a.httpPort}/api/nodes/${n.name}`;
      const post = (url: string, bearer: string, body: unknown): Promise<HttpSummary> =>
        httpCmd({
          url,
          method: 'POST',
          headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          localAddress: ip,
          timeoutMs: Math.max(1000, deadline - Date.now()),
        });
      const e = await post(`${api}/enroll`, token, {});
      r.report = { enroll: e.status, event: 0 };
      const credential = (JSON.parse(e.text ?? '{}') as { credential?: string }).credential;
      if (e.status !== 201 || !credential) throw new Error(`enrol: status ${e.status} ${e.text?.slice(0, 200) ?? ''}`);
      const ev = await post(`${api}/events`, credential, a.report);
      r.report.event = ev.status;
      if (ev.status !== 201) throw new Error(`event: status ${ev.status} ${ev.text?.slice(0, 200) ?? ''}`);
      r.ms.report = Date.now() - t3;
    }
    r.ok = true;
  } catch (err) {
    r.error = (err as Error).message;
  }
  r.ms.total = Date.now() - t0;
  return r;
}

async function bootMany(a: BootArgs): Promise<{ nodes: NodeBoot[]; ms: number }> {
  const started = Date.now();
  const root = new Prng(a.seed);
  await dhcp();
  const nodes = await Promise.all(a.nodes.map((n, i) => bootOne(a, n, i, root)));
  return { nodes, ms: Date.now() - started };
}

// ---------------------------------------------------------------------------------------------

const handlers: { [K in AgentCommand]: (args: AgentApi[K]['args']) => Promise<AgentApi[K]['result']> } = {
  ping: async () => ({ pid: process.pid }),
  'dhcp-exchange': dhcpExchange,
  'dhcp-fuzz': dhcpFuzz,
  'tftp-get': tftpGetCmd,
  'tftp-fuzz': tftpFuzz,
  http: httpCmd,
  'http-fuzz': httpFuzz,
  'boot-many': bootMany,
};

interface Call {
  id: number;
  cmd: AgentCommand;
  args: unknown;
}

function dispatch<K extends AgentCommand>(cmd: K, args: unknown): Promise<AgentApi[K]['result']> {
  const h = handlers[cmd] as (a: unknown) => Promise<AgentApi[K]['result']>;
  if (typeof h !== 'function') return Promise.reject(new Error(`unknown command ${String(cmd)}`));
  return h(args);
}

function main(): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const call = JSON.parse(line) as Call;
    dispatch(call.cmd, call.args).then(
      (result) => process.stdout.write(`${JSON.stringify({ id: call.id, ok: true, result })}\n`),
      (err: unknown) =>
        process.stdout.write(`${JSON.stringify({ id: call.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })}\n`),
    );
  });
  rl.on('close', () => {
    dhcpPort?.close();
    process.exit(0);
  });
}

if (process.argv[1]?.endsWith('ns-agent.js')) main();
