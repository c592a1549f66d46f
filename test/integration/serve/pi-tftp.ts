import { createSocket, type RemoteInfo } from 'node:dgram';
import type { Prng } from './prng.js';

// A minimal RFC 1350 TFTP read client (plus RFC 2347/2348/2349 blksize and tsize) for the load and
// fuzz tests: lock-step, it re-sends its last packet after `timeoutMs` of silence and never answers
// a duplicate DATA (only silence makes it repeat itself), as a Pi's bootloader behaves.

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export function rrq(file: string, options: Record<string, string> = {}, mode = 'octet'): Buffer {
  const parts = [file, mode, ...Object.entries(options).flat()];
  return Buffer.concat([Buffer.from([0, OP.RRQ]), ...parts.map((p) => Buffer.from(`${p}\0`, 'latin1'))]);
}

export function ack(block: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(OP.ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function tftpError(code: number, message: string): Buffer {
  return Buffer.concat([Buffer.from([0, OP.ERROR, (code >> 8) & 0xff, code & 0xff]), Buffer.from(`${message}\0`, 'latin1')]);
}

/** Option name/value pairs of an OACK (or an RRQ after its file name and mode). */
export function parseOptions(buf: Buffer, from: number): Record<string, string> {
  const fields = buf.subarray(from).toString('latin1').split('\0');
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[(fields[i] ?? '').toLowerCase()] = fields[i + 1] ?? '';
  return out;
}

export interface TftpGetOptions {
  server: string;
  port?: number;
  file: string;
  localAddress?: string;
  /** Ask for these (the Pi asks blksize 1024 and tsize 0); none: a plain RFC 1350 read, 512-byte blocks. */
  blksize?: number;
  tsize?: boolean;
  /** `oack`: stop with an ERROR after the OACK (the Pi's size probe); `first-block`: after DATA 1. */
  probe?: 'oack' | 'first-block';
  /** Silence before the last packet is sent again. */
  timeoutMs?: number;
  /** Consecutive silent timeouts before giving up. */
  maxRetries?: number;
  /** Simulated loss: drop this share of incoming DATA before looking at it (seeded). */
  dropData?: { rate: number; rng: Prng };
  /** Hard limit on the whole transfer. */
  deadlineMs?: number;
  /** Called with the server's transfer port once known (the fuzz test aims there). */
  onTid?: (port: number) => void;
}

export interface TftpGetResult {
  ok: boolean;
  data: Buffer;
  /** TFTP error from the server, or a local reason (`timeout`, `deadline`). */
  error?: { code: number; message: string };
  oack?: Record<string, string>;
  /** Packets this client sent again after silence (RRQ or ACK). */
  resent: number;
  /** DATA packets that arrived again after being acknowledged (ignored). */
  duplicates: number;
  /** DATA dropped by the simulated loss. */
  dropped: number;
  /** Datagrams from a port that is not the transfer's (answered with ERROR 5 and ignored). */
  strangers: number;
  ms: number;
}

export function tftpGet(o: TftpGetOptions): Promise<TftpGetResult> {
  const started = Date.now();
  const timeoutMs = o.timeoutMs ?? 1000;
  const maxRetries = o.maxRetries ?? 8;
  const port = o.port ?? 69;
  const options: Record<string, string> = {};
  if (o.blksize !== undefined) options.blksize = String(o.blksize);
  if (o.tsize) options.tsize = '0';
  const sock = createSocket('udp4');
  const chunks: Buffer[] = [];
  let blksize = 512;
  let tid: number | undefined;
  let last = 0;
  let lastSent = rrq(o.file, options);
  let lastTo = port;
  let retries = 0;
  const r: TftpGetResult = { ok: false, data: Buffer.alloc(0), resent: 0, duplicates: 0, dropped: 0, strangers: 0, ms: 0 };

  return new Promise<TftpGetResult>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const deadline = setTimeout(() => finish({ code: -1, message: 'deadline' }), o.deadlineMs ?? 60_000);
    let dallying = false;
    const finish = (error?: { code: number; message: string }, dally = false): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      r.ok = error === undefined;
      r.error = error;
      r.data = Buffer.concat(chunks);
      r.ms = Date.now() - started;
      resolve(r);
      // RFC 1350: the last ACK may be lost; linger to acknowledge a repeated last block again.
      dallying = dally;
      const close = (): void => {
        try {
          sock.close();
        } catch {
          // already closed after a socket error
        }
      };
      if (dally) setTimeout(close, 2 * timeoutMs);
      else close();
    };
    const send = (buf: Buffer, to: number): void => {
      lastSent = buf;
      lastTo = to;
      sock.send(buf, to, o.server);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (++retries > maxRetries) return finish({ code: -1, message: 'timeout' });
        r.resent++;
        sock.send(lastSent, lastTo, o.server);
        arm();
      }, timeoutMs);
    };
    const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
      if (dallying && tid === rinfo.port && msg.length >= 4 && msg.readUInt16BE(0) === OP.DATA && msg.readUInt16BE(2) === last) {
        sock.send(ack(last), tid, o.server);
        return;
      }
      if (done || rinfo.address !== o.server || msg.length < 4) return;
      if (tid === undefined) {
        tid = rinfo.port;
        o.onTid?.(tid);
      } else if (rinfo.port !== tid) {
        r.strangers++;
        sock.send(tftpError(5, 'Unknown transfer ID'), rinfo.port, rinfo.address);
        return;
      }
      const op = msg.readUInt16BE(0);
      if (op === OP.ERROR) {
        finish({ code: msg.readUInt16BE(2), message: msg.subarray(4).toString('latin1').replace(/\0.*$/s, '') });
        return;
      }
      if (op === OP.OACK) {
        if (last !== 0 || chunks.length > 0) return; // a late duplicate of the OACK
        r.oack = parseOptions(msg, 2);
        if (r.oack.blksize) blksize = Number(r.oack.blksize);
        if (o.probe === 'oack') {
          sock.send(tftpError(8, 'probe done'), tid, o.server);
          finish();
          return;
        }
        retries = 0;
        send(ack(0), tid);
        arm();
        return;
      }
      if (op !== OP.DATA) return;
      if (o.dropData?.rng.chance(o.dropData.rate)) {
        r.dropped++;
        return;
      }
      const block = msg.readUInt16BE(2);
      const want = (last + 1) & 0xffff;
      if (block !== want) {
        if (block === last) r.duplicates++;
        return;
      }
      const payload = msg.subarray(4);
      chunks.push(Buffer.from(payload));
      last = block;
      retries = 0;
      if (o.probe === 'first-block') {
        sock.send(tftpError(0, 'probe done'), tid, o.server);
        finish();
        return;
      }
      send(ack(block), tid);
      if (payload.length < blksize) finish(undefined, true);
      else arm();
    };
    sock.on('message', onMessage);
    sock.on('error', (err) => finish({ code: -1, message: `socket: ${err.message}` }));
    sock.bind(0, o.localAddress, () => {
      send(lastSent, port);
      arm();
    });
  });
}
