import { createSocket, type Socket } from 'node:dgram';
import { parseOptions } from './pi-tftp.js';

// A small TFTP reader for tests, with the behaviours real netboot clients have that break naive
// servers: it ACKs every DATA it gets (a duplicate is answered with the last in-order block, as
// RFC 1350 receivers do), re-ACKs after a quiet spell, and can lose incoming DATA at a seeded rate.
// It speaks raw bytes rather than kiln's codec so the server is not tested against itself.

export interface ReadOptions {
  port: number;
  file: string;
  options?: [string, string][];
  /** Fraction of incoming DATA dropped as if lost on the wire. */
  loss?: number;
  seed?: number;
  /** Re-send the last ACK (or the RRQ) after this much silence. */
  retryMs?: number;
  /** With a window: ACK every in-order block, or only the last of each window (RFC 7440). */
  ack?: 'every' | 'window';
  /** Give up (reject) after this long. */
  deadlineMs?: number;
  /** Called on each DATA the client accepts, before it ACKs; may poke at the server. */
  onData?: (block: number, ctx: { sock: Socket; serverPort: number; ack: (block: number) => void }) => void | Promise<void>;
}

export interface ReadResult {
  data: Buffer;
  /** DATA datagrams that arrived, including duplicates and those dropped by `loss`. */
  dataPackets: number;
  oack?: Record<string, string>;
  serverPort: number;
}

export class TftpClientError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

export function rrq(file: string, options: [string, string][] = [], mode = 'octet'): Buffer {
  const parts = [file, mode, ...options.flat()].map((s) => `${s}\0`).join('');
  return Buffer.concat([Buffer.from([0, 1]), Buffer.from(parts, 'latin1')]);
}

export function ackPacket(block: number): Buffer {
  return Buffer.from([0, 4, (block >> 8) & 0xff, block & 0xff]);
}

export function errorPacket(code: number, msg: string): Buffer {
  return Buffer.concat([Buffer.from([0, 5, 0, code]), Buffer.from(`${msg}\0`, 'latin1')]);
}

export async function bound(): Promise<Socket> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return sock;
}

export async function tftpRead(o: ReadOptions): Promise<ReadResult> {
  const sock = await bound();
  const random = seeded(o.seed ?? 1);
  const loss = o.loss ?? 0;
  const retryMs = o.retryMs ?? 1000;
  let blksize = 512;
  let window = 1;
  let serverPort = 0;
  let got = 0; // in-order blocks received (unwrapped)
  let sinceAck = 0;
  let lastAck: Buffer | undefined;
  let dataPackets = 0;
  let oack: Record<string, string> | undefined;
  const chunks: Buffer[] = [];
  const request = rrq(o.file, o.options);

  return new Promise<ReadResult>((resolve, reject) => {
    let retry: NodeJS.Timeout | undefined;
    const finish = (err?: Error): void => {
      clearTimeout(retry);
      clearTimeout(deadline);
      sock.close();
      if (err) reject(err);
      else resolve({ data: Buffer.concat(chunks), dataPackets, oack, serverPort });
    };
    const deadline = setTimeout(
      () => finish(new Error(`deadline: ${got} blocks (${dataPackets} DATA packets) after ${o.deadlineMs ?? 20_000} ms`)),
      o.deadlineMs ?? 20_000,
    );
    const arm = (): void => {
      clearTimeout(retry);
      retry = setTimeout(() => {
        if (serverPort === 0) sock.send(request, o.port, '127.0.0.1');
        else if (lastAck) sock.send(lastAck, serverPort, '127.0.0.1');
        arm();
      }, retryMs);
    };
    const ack = (block: number): void => {
      lastAck = ackPacket(block & 0xffff);
      sinceAck = 0;
      sock.send(lastAck, serverPort, '127.0.0.1');
    };
    sock.on('message', (msg, rinfo) => {
      void (async () => {
        if (serverPort === 0) serverPort = rinfo.port;
        if (rinfo.port !== serverPort || msg.length < 4) return;
        const op = msg.readUInt16BE(0);
        if (op === 5)
          return finish(
            new TftpClientError(msg.readUInt16BE(2), msg.subarray(4, msg.indexOf(0, 4) === -1 ? msg.length : msg.indexOf(0, 4)).toString('latin1')),
          );
        if (op === 6) {
          if (got > 0) return;
          oack = parseOptions(msg, 2);
          if (oack.blksize) blksize = Number(oack.blksize);
          if (oack.windowsize) window = Number(oack.windowsize);
          ack(0);
          arm();
          return;
        }
        if (op !== 3) return;
        dataPackets++;
        if (random() < loss) return;
        const block = msg.readUInt16BE(2);
        if (block !== ((got + 1) & 0xffff)) {
          // A duplicate or a block past a gap: say where we are, as RFC 1350/7440 receivers do.
          ack(got);
          return;
        }
        got++;
        sinceAck++;
        chunks.push(Buffer.from(msg.subarray(4)));
        await o.onData?.(got, { sock, serverPort, ack });
        const last = msg.length - 4 < blksize;
        if (last || o.ack !== 'window' || sinceAck >= window) ack(got);
        arm();
        if (last) finish();
      })().catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
    });
    sock.send(request, o.port, '127.0.0.1');
    arm();
  });
}
