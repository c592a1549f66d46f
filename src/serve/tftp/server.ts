import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import tftp, { type GetStream, type PutStream, type Server } from 'tftp';
import { log } from '../../util/log.js';
import { planTftp, type RenderContext, type TftpLookup } from '../bootplan.js';
import type { ServeMetrics } from '../metrics.js';
import type { NodeRecord } from '../nodes/model.js';
import { RateLog } from '../ratelog.js';
import { precheckTftp } from './precheck.js';

// Read-only TFTP with virtual per-node paths, on top of the `tftp` package: the package does the
// protocol (blksize, tsize, windowsize when asked, retransmits); kiln decides what each path is.

export interface TftpServerOptions {
  host: string;
  port: number;
  lookup: TftpLookup;
  ctx: RenderContext;
  metrics: ServeMetrics;
  /** Largest blksize granted; the Pi asks 1024, U-Boot up to 1468 on Ethernet. */
  maxBlockSize?: number;
  /** Largest windowsize granted to clients that ask for one (RFC 7440); the Pi never asks. */
  maxWindowSize?: number;
  /** A node fetched one of its files (any request, probes included): remember its address. */
  onSeen?: (node: NodeRecord, ip: string) => void;
  /** A node received a whole file. */
  onServed?: (node: NodeRecord, path: string, bytes: number, seconds: number) => void;
}

/** TFTP error messages the library maps to RFC 1350 codes 1 and 2. */
const NOT_FOUND = 'File not found';
const ACCESS = 'Access violation';

export class KilnTftpServer {
  private server: Server | undefined;
  private readonly active = new Set<GetStream>();
  private readonly rate = new RateLog();

  constructor(private readonly opts: TftpServerOptions) {}

  start(): Promise<void> {
    const server = tftp.createServer(
      {
        host: this.opts.host,
        port: this.opts.port,
        denyPUT: true,
        blockSize: this.opts.maxBlockSize ?? 1468,
        windowSize: this.opts.maxWindowSize ?? 16,
      },
      (req, res) => {
        try {
          this.onRequest(req, res);
        } catch (err) {
          // One failed request (e.g. the registry is locked) must not take the service down.
          log.warn({ file: req.file, err: (err as Error).message }, 'tftp: request failed');
          req.abort('I/O error');
        }
      },
    );
    this.server = server;
    // Count what the library refuses by itself (it answers with a TFTP error and moves on).
    server._socket.prependListener('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
      const c = precheckTftp(msg);
      if (c.ok) return;
      this.opts.metrics.tftpRequests.inc({ result: c.reason });
      this.rate.info(`tftp:${c.reason}`, { client: rinfo.address, reason: c.detail }, 'tftp: refused request');
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.once('listening', () => {
        server.off('error', onError);
        server.on('error', (err: Error) => log.warn({ err: err.message }, 'tftp: socket error'));
        resolve();
      });
      server.listen();
    });
  }

  async stop(): Promise<void> {
    for (const r of this.active) r.abort('server shutting down');
    this.active.clear();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.close();
    });
  }

  private onRequest(req: GetStream, res: PutStream): void {
    const ip = req.stats.remoteAddress;
    const started = process.hrtime.bigint();
    const m = this.opts.metrics;
    let failed: Error | undefined;
    let aborted = false;
    let bytes = 0;
    const plan = planTftp(req.file, ip, this.opts.lookup, this.opts.ctx);
    const served = plan.kind === 'refuse' ? undefined : plan.node;
    this.active.add(req);
    req.on('abort', () => {
      aborted = true;
    });
    req.on('error', (err: Error) => {
      failed = err;
    });
    req.on('close', () => {
      // The library emits `close` before `error`, so settle on the next turn.
      setImmediate(() => {
        this.active.delete(req);
        if (aborted) return; // refused by us; already counted
        if (failed) {
          // A Pi probing for a file reads one block and aborts: that is normal, not an error.
          m.tftpRequests.inc({ result: 'aborted' });
          log.debug({ client: ip, file: req.file, why: failed.message }, 'tftp: transfer ended early');
          return;
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        m.tftpRequests.inc({ result: 'ok' });
        m.transferSeconds.observe({ protocol: 'tftp' }, seconds);
        if (served) this.notify(() => this.opts.onServed?.(served, req.file, bytes, seconds));
      });
    });
    res.on('error', () => undefined);

    const refuse = (code: 'notfound' | 'denied', reason: string): void => {
      m.tftpRequests.inc({ result: code });
      // Probes for files that do not exist are part of every Pi boot; keep them out of info logs.
      if (code === 'notfound') log.debug({ client: ip, file: req.file, reason }, 'tftp: not found');
      else this.rate.info(`tftp:${reason}`, { client: ip, file: req.file.slice(0, 255), reason }, 'tftp: refused');
      req.abort(code === 'notfound' ? NOT_FOUND : ACCESS);
    };
    if (plan.kind === 'refuse') return refuse(plan.code, plan.reason);
    const seen = plan.node;
    if (seen) this.notify(() => this.opts.onSeen?.(seen, ip));

    if (plan.kind === 'render') {
      bytes = plan.data.length;
      m.tftpBytes.inc(bytes);
      res.setSize(plan.data.length);
      res.end(plan.data);
      return;
    }
    void this.sendFile(plan.root, plan.rel, req, res, refuse).then((n) => {
      bytes = n;
    });
  }

  /** Callbacks record to the registry; a failure there is logged, never thrown into the socket. */
  private notify(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'tftp: recording the transfer failed');
    }
  }

  private async sendFile(
    root: string,
    rel: string[],
    req: GetStream,
    res: PutStream,
    refuse: (code: 'notfound' | 'denied', reason: string) => void,
  ): Promise<number> {
    let real: string;
    let size: number;
    try {
      const realRoot = await realpath(root);
      real = await realpath(join(realRoot, ...rel));
      // A symlink inside the boot dir must not lead out of it.
      if (!real.startsWith(realRoot + sep)) {
        refuse('denied', 'path resolves outside the served root');
        return 0;
      }
      const st = await stat(real);
      if (!st.isFile()) {
        refuse('notfound', 'not a regular file');
        return 0;
      }
      size = st.size;
      // The Pi 5 bootloader has no block-number rollover: such a file fails part-way on a Pi 5.
      if (size / req.stats.blockSize >= 65535) {
        this.rate.info(`tftp:big:${req.file}`, { file: req.file, size, blockSize: req.stats.blockSize }, 'tftp: file needs block rollover (fails on a Pi 5): keep boot files under 64 MiB');
      }
    } catch {
      refuse('notfound', 'no such file');
      return 0;
    }
    const m = this.opts.metrics;
    const rs = createReadStream(real, { highWaterMark: 64 * 1024 });
    rs.on('data', (chunk) => m.tftpBytes.inc(chunk.length));
    rs.on('error', (err) => {
      log.warn({ file: req.file, err: err.message }, 'tftp: read failed');
      req.abort('I/O error');
    });
    req.on('error', () => rs.destroy());
    req.on('abort', () => rs.destroy());
    res.setSize(size);
    rs.pipe(res);
    return size;
  }
}
