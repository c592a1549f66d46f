import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { errorText } from '../../util/errors.js';
import { log } from '../../util/log.js';
import type { ServeMetrics } from '../metrics.js';
import type { NodeRecord } from '../nodes/model.js';
import { isStoreUnreachable } from '../nodes/store/sql.js';
import { carriesInstallToken, renderBootFile } from '../plan/bootfiles.js';
import { planTftp, type TftpLookup, type TftpPlan } from '../plan/tftp.js';
import { RateLog } from '../ratelog.js';
import { ERR, OP, encodeError, encodeOack, negotiate, parsePacket, type RequestOption } from './codec.js';
import { openServed } from './files.js';
import { Session, type DropReason } from './session.js';
import { FileSource, MemorySource, type BlockSource } from './source.js';
import { MAX_WINDOW, Transfer, blockCount, type Outcome } from './transfer.js';

// Read-only TFTP with virtual per-node paths. The listening socket takes requests; each transfer
// runs on its own socket (its TID) as a Session; kiln decides what each path is (plan/tftp.ts,
// pure) and records what happened through the hooks (apply.ts wires them to the registry).

export interface TftpServerOptions {
  host: string;
  port: number;
  lookup: TftpLookup;
  /** Base URL of kiln's HTTP server as nodes reach it, for the rendered command lines. */
  ctx: { httpBase: string };
  metrics: ServeMetrics;
  /** Largest blksize granted; the Pi asks 1024, U-Boot up to 1468 on Ethernet. */
  maxBlockSize?: number;
  /** Largest windowsize granted to clients that ask for one (RFC 7440); the Pi never asks. */
  maxWindowSize?: number;
  /** A node's files were asked for (probes included): its last-seen time, never its address (anyone can ask). */
  onSeen?: (node: NodeRecord, ip: string) => Promise<void>;
  /** A node received a whole file. */
  onServed?: (node: NodeRecord, path: string, bytes: number, seconds: number) => Promise<void>;
  /** The install token for a node's installer command line; issuing it starts its lifetime. */
  installToken?: (node: NodeRecord) => Promise<string | undefined>;
  /** Transfers at once; requests beyond are answered "server busy". */
  maxTransfers?: number;
  /** Transfers at once from one address: a booting Pi holds two for a moment (a file ending, the next starting). */
  maxTransfersPerClient?: number;
  /** Retransmission timeout when the client does not ask for one (RFC 2349 `timeout`). */
  timeoutMs?: number;
  /** Timeouts in a row without progress before a transfer is given up. */
  retries?: number;
}

type Refusal = 'notfound' | 'denied';

const DEFAULT_MAX_TRANSFERS = 256;
const DEFAULT_MAX_PER_CLIENT = 32;

type Lookup = NonNullable<SocketOptions['lookup']>;
/**
 * dgram resolves even IP literals through dns.lookup, a next-tick callback per datagram sent; the
 * addresses here are always literals (from recvmsg), so answer at once, in the socket's family.
 */
const literal: Record<'udp4' | 'udp6', Lookup> = {
  udp4: (host, _opts, cb) => cb(null, host, 4),
  udp6: (host, _opts, cb) => cb(null, host, 6),
};

export class KilnTftpServer {
  private sock: Socket | undefined;
  /** Transfers by client address:port; `opening` while the file is looked up. */
  private readonly active = new Map<string, Session | 'opening'>();
  private readonly rate = new RateLog();
  private stopped = false;

  constructor(private readonly opts: TftpServerOptions) {}

  private get socketType(): 'udp4' | 'udp6' {
    return isIPv6(this.opts.host) ? 'udp6' : 'udp4';
  }

  start(): Promise<void> {
    this.stopped = false;
    const sock = createSocket({ type: this.socketType, lookup: literal[this.socketType] });
    this.sock = sock;
    sock.on('message', (msg: Buffer, from: RemoteInfo) => {
      try {
        this.onRequest(msg, from);
      } catch (err) {
        // One failed request (e.g. the registry is locked) must not take the service down.
        this.requestFailed(from, err);
      }
    });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: this.opts.port, address: this.opts.host }, () => {
        sock.off('error', reject);
        sock.on('error', (err: Error) => log.warn({ err: err.message }, 'tftp: socket error'));
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.active.values()) if (s !== 'opening') s.abort('server shutting down');
    this.active.clear();
    const s = this.sock;
    this.sock = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private perClient(address: string): number {
    let n = 0;
    for (const key of this.active.keys()) if (key.startsWith(`${address}:`)) n++;
    return n;
  }

  private onRequest(msg: Buffer, from: RemoteInfo): void {
    const m = this.opts.metrics;
    const p = parsePacket(msg);
    if (!p.ok || p.packet.op !== 'rrq') {
      const reason = !p.ok ? p.reason : p.packet.op === 'wrq' ? 'write-denied' : 'bad-opcode';
      const detail = !p.ok ? p.detail : p.packet.op;
      m.tftpRequests.inc({ result: reason });
      this.rate.info(`tftp:${reason}`, { client: from.address, reason: detail }, 'tftp: refused request');
      // An ERROR is never answered: two servers would answer each other forever.
      const isError = msg.length >= 2 && msg[0] === 0 && msg[1] === OP.ERROR;
      if (!isError)
        this.answer(from, reason === 'write-denied' ? ERR.ACCESS : ERR.ILLEGAL_OP, reason === 'write-denied' ? 'Access violation' : 'Illegal TFTP operation');
      return;
    }
    const key = `${from.address}:${from.port}`;
    // The client repeats its RRQ when our first answer is slow or lost: one transfer per TID.
    if (this.active.has(key)) return;
    if (from.port === 0) {
      m.tftpRequests.inc({ result: 'malformed' });
      return;
    }
    // Sized for a fleet booting at once (50 Pis after a power cut hold up to ~100 for a moment, a
    // lost final ACK keeps one open for a few seconds); the per-address cap keeps one host from
    // taking them all. Each costs a socket and a window of buffers (16 x 1468 bytes at most).
    const fromClient = this.perClient(from.address);
    if (this.active.size >= (this.opts.maxTransfers ?? DEFAULT_MAX_TRANSFERS) || fromClient >= (this.opts.maxTransfersPerClient ?? DEFAULT_MAX_PER_CLIENT)) {
      m.tftpRequests.inc({ result: 'busy' });
      this.rate.info('tftp:busy', { client: from.address, transfers: this.active.size, fromClient }, 'tftp: too many transfers, refusing');
      this.answer(from, ERR.UNDEFINED, 'Server busy, try again later');
      return;
    }
    this.active.set(key, 'opening');
    const { filename, options } = p.packet;
    // The request is served asynchronously (registry, files): its failure is caught here, as a
    // synchronous one is in start(), never left to reject unhandled (that would end the process).
    this.read(filename, options, from).catch((err: unknown) => {
      this.active.delete(key);
      this.requestFailed(from, err);
    });
  }

  private requestFailed(from: RemoteInfo, err: unknown): void {
    this.opts.metrics.tftpRequests.inc({ result: isStoreUnreachable(err) ? 'store-unreachable' : 'error' });
    this.rate.info('tftp:request-failed', { client: from.address, err: errorText(err) }, 'tftp: request failed');
    this.answer(from, ERR.UNDEFINED, 'I/O error');
  }

  private async read(file: string, options: RequestOption[], from: RemoteInfo): Promise<void> {
    const key = `${from.address}:${from.port}`;
    const ip = from.address;
    const m = this.opts.metrics;
    const refuse = (code: Refusal, reason: string): void => {
      this.active.delete(key);
      m.tftpRequests.inc({ result: code });
      // Probes for files that do not exist are part of every Pi boot; keep them out of info logs.
      if (code === 'notfound') log.debug({ client: ip, file, reason }, 'tftp: not found');
      else this.rate.info(`tftp:${reason}`, { client: ip, file: file.slice(0, 255), reason }, 'tftp: refused');
      this.answer(from, code === 'notfound' ? ERR.NOT_FOUND : ERR.ACCESS, code === 'notfound' ? 'File not found' : 'Access violation');
    };

    const plan = await planTftp(file, ip, this.opts.lookup);
    if (plan.kind === 'refuse') return refuse(plan.code, plan.reason);
    const node = plan.node;
    if (node) await this.notify(() => this.opts.onSeen?.(node, ip));

    let size: number;
    let makeSource: (blockSize: number, windowSize: number) => BlockSource;
    if (plan.kind === 'render') {
      const data = await this.render(plan);
      size = data.length;
      makeSource = (bs) => new MemorySource(data, bs);
    } else {
      const opened = await openServed(plan.root, plan.rel);
      if (!opened.ok) return refuse(opened.code, opened.reason);
      const fh = opened.fh;
      size = opened.size;
      makeSource = (bs, ws) => new FileSource(fh, size, bs, ws);
      if (this.stopped) {
        await fh.close();
        return;
      }
    }

    const neg = negotiate(options, {
      maxBlockSize: this.opts.maxBlockSize ?? 1468,
      maxWindowSize: Math.min(this.opts.maxWindowSize ?? 16, MAX_WINDOW),
      size,
    });
    const blocks = blockCount(size, neg.blockSize);
    // The Pi 5 bootloader has no block-number rollover: such a file fails part-way on a Pi 5.
    if (blocks > 65535) {
      this.rate.info(
        `tftp:big:${file}`,
        { file, size, blockSize: neg.blockSize },
        'tftp: file needs block rollover (fails on a Pi 5): keep boot files under 64 MiB',
      );
    }
    const source = makeSource(neg.blockSize, neg.windowSize);
    let sock: Socket;
    try {
      sock = await this.transferSocket();
    } catch (err) {
      await source.close().catch(() => undefined);
      throw err;
    }
    if (this.stopped) {
      sock.close();
      await source.close().catch(() => undefined);
      return;
    }

    const started = process.hrtime.bigint();
    let bytes = 0;
    const session = new Session({
      socket: sock,
      client: { address: from.address, port: from.port },
      transfer: new Transfer({ blocks, windowSize: neg.windowSize, retries: this.opts.retries ?? 5, oack: neg.accepted.length > 0 }),
      source,
      oack: neg.accepted.length > 0 ? encodeOack(neg.accepted) : undefined,
      timeoutMs: neg.timeoutMs ?? this.opts.timeoutMs ?? 1000,
      hooks: {
        dropped: (reason, detail, at) => this.dropped(reason, detail, at),
        sent: (n) => {
          bytes += n;
          m.tftpBytes.inc(n);
        },
        done: (outcome, detail) => {
          this.active.delete(key);
          this.finished(outcome, { ip, file, detail, bytes, started, node });
        },
      },
    });
    this.active.set(key, session);
    session.start();
  }

  private async render(plan: Extract<TftpPlan, { kind: 'render' }>): Promise<Buffer> {
    const installToken = carriesInstallToken(plan.file, plan.image) ? await this.opts.installToken?.(plan.node) : undefined;
    return renderBootFile(plan.file, plan.node, plan.image, { httpBase: this.opts.ctx.httpBase, installToken });
  }

  private finished(outcome: Outcome | 'error', t: { ip: string; file: string; detail?: string; bytes: number; started: bigint; node?: NodeRecord }): void {
    const m = this.opts.metrics;
    m.tftpRequests.inc({ result: outcome });
    if (outcome === 'error') {
      this.rate.info('tftp:transfer-failed', { client: t.ip, file: t.file, err: t.detail }, 'tftp: transfer failed');
      return;
    }
    if (outcome !== 'ok') {
      // A Pi probing for a file reads one block and stops: normal, so only at debug level.
      if (outcome === 'aborted') log.debug({ client: t.ip, file: t.file, why: t.detail }, 'tftp: transfer ended early');
      else this.rate.info('tftp:timeout', { client: t.ip, file: t.file, bytes: t.bytes }, 'tftp: client stopped answering');
      return;
    }
    const seconds = Number(process.hrtime.bigint() - t.started) / 1e9;
    m.transferSeconds.observe({ protocol: 'tftp' }, seconds);
    const node = t.node;
    // Not awaited: the transfer is over; notify() catches what the registry throws.
    if (node) void this.notify(() => this.opts.onServed?.(node, t.file, t.bytes, seconds));
  }

  private dropped(reason: DropReason, detail: string, at: RemoteInfo): void {
    this.opts.metrics.tftpDropped.inc({ reason });
    this.rate.info(`tftp:drop:${reason}`, { from: `${at.address}:${at.port}`, reason, detail }, 'tftp: dropped datagram on a transfer socket');
  }

  private transferSocket(): Promise<Socket> {
    const sock = createSocket({ type: this.socketType, lookup: literal[this.socketType] });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: 0, address: this.opts.host }, () => {
        sock.off('error', reject);
        resolve(sock);
      });
    });
  }

  /** An ERROR from the listening port, as the first answer to a request may come from it. */
  private answer(to: RemoteInfo, code: number, message: string): void {
    if (to.port === 0 || !this.sock) return;
    try {
      this.sock.send(encodeError(code, message), to.port, to.address);
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'tftp: could not send an error');
    }
  }

  /** Callbacks record to the registry; a failure there is logged, never thrown into the socket. Never rejects. */
  private async notify(fn: () => Promise<void> | undefined): Promise<void> {
    try {
      await fn();
    } catch (err) {
      log.warn({ err: errorText(err) }, 'tftp: recording the transfer failed');
    }
  }
}
