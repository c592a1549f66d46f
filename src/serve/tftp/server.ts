import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import tftp, { type GetStream, type PutStream, type Server } from 'tftp';
import { log } from '../../util/log.js';
import { planTftp, type RenderContext, type TftpLookup } from '../bootplan.js';
import type { ServeMetrics } from '../metrics.js';
import type { NodeRecord } from '../nodes/model.js';
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
      (req, res) => this.onRequest(req, res),
    );
    this.server = server;
    // Count what the library refuses by itself (it answers with a TFTP error and moves on).
    server._socket.prependListener('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
      const c = precheckTftp(msg);
      if (c.ok) return;
      this.opts.metrics.tftpRequests.inc({ result: c.reason });
      log.info({ client: rinfo.address, reason: c.detail }, 'tftp: refused request');
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
        if (served) this.opts.onServed?.(served, req.file, bytes, seconds);
      });
    });
    res.on('error', () => undefined);

    const plan = planTftp(req.file, ip, this.opts.lookup, this.opts.ctx);
    let served: NodeRecord | undefined;
    const refuse = (code: 'notfound' | 'denied', reason: string): void => {
      m.tftpRequests.inc({ result: code });
      // Probes for files that do not exist are part of every Pi boot; keep them out of info logs.
      const level = code === 'notfound' ? 'debug' : 'info';
      log[level]({ client: ip, file: req.file, reason }, 'tftp: refused');
      req.abort(code === 'notfound' ? NOT_FOUND : ACCESS);
    };
    if (plan.kind === 'refuse') return refuse(plan.code, plan.reason);
    if (plan.node) this.opts.onSeen?.(plan.node, ip);
    served = plan.node;

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
