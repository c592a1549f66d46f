import type { RemoteInfo, Socket } from 'node:dgram';
import { ERR, OP, encodeError, parsePacket } from './codec.js';
import type { BlockSource } from './source.js';
import type { Action, Outcome, Transfer } from './transfer.js';

// One read transfer on its own UDP socket (its TID, RFC 1350): feeds what arrives to the state
// machine and puts what it asks for on the wire. Nothing a peer sends can throw out of here.

export type DropReason = 'malformed' | 'foreign-tid' | 'unexpected';

export interface SessionHooks {
  /** A datagram on this transfer's socket that did not count for the transfer. */
  dropped(reason: DropReason, detail: string, from: RemoteInfo): void;
  /** Payload bytes put on the wire for the first time (retransmissions are not counted), reported per chunk. */
  sent(bytes: number): void;
  /** Called once; the socket is closed and the source released after it. */
  done(outcome: Outcome | 'error', detail?: string): void;
}

export interface SessionOptions {
  socket: Socket;
  client: { address: string; port: number };
  transfer: Transfer;
  source: BlockSource;
  oack?: Buffer;
  timeoutMs: number;
  hooks: SessionHooks;
}

/** Answers to strangers per transfer: a spoofed ping-pong between two servers stops here. */
const FOREIGN_REPLIES = 32;

export class Session {
  private readonly sock: Socket;
  private readonly addr: string;
  private readonly port: number;
  private readonly t: Transfer;
  private readonly src: BlockSource;
  private readonly timeoutMs: number;
  /** Blocks from..to still to send; a chunk load may interrupt the run. */
  private qFrom = 1;
  private qTo = 0;
  private loading = false;
  /** Highest block ever sent, to count first transmissions only. */
  private highest = 0;
  private lastActive = 0;
  private timer: NodeJS.Timeout | undefined;
  private foreignReplies = 0;
  /** First-transmission bytes not yet reported: a metrics call per block would cost more than the send. */
  private unreported = 0;
  private ended = false;

  constructor(private readonly o: SessionOptions) {
    this.sock = o.socket;
    this.addr = o.client.address;
    this.port = o.client.port;
    this.t = o.transfer;
    this.src = o.source;
    this.timeoutMs = o.timeoutMs;
  }

  start(): void {
    this.sock.on('message', (msg: Buffer, from: RemoteInfo) => {
      try {
        this.onMessage(msg, from);
      } catch (err) {
        this.fail(err);
      }
    });
    this.sock.on('error', (err) => this.fail(err));
    this.lastActive = Date.now();
    this.timer = setTimeout(() => this.onTimer(), this.timeoutMs);
    this.act(this.t.start());
  }

  /** Ends the transfer from our side (server shutting down), telling the client why. */
  abort(message: string): void {
    if (this.ended) return;
    this.reply(this.addr, this.port, ERR.UNDEFINED, message);
    this.finish('aborted', message);
  }

  private onMessage(msg: Buffer, from: RemoteInfo): void {
    if (this.ended) return;
    if (from.port !== this.port || from.address !== this.addr) {
      this.stranger(msg, from);
      return;
    }
    // The hot path: an ACK from our client, parsed without building a packet object.
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === OP.ACK) {
      this.act(this.t.ack(msg.readUInt16BE(2)));
      return;
    }
    const p = parsePacket(msg);
    if (!p.ok) {
      this.o.hooks.dropped('malformed', p.detail, from);
      return;
    }
    if (p.packet.op === 'error') {
      this.act(this.t.peerError(), `client error ${p.packet.code}: ${p.packet.message.slice(0, 100)}`);
      return;
    }
    // A repeated RRQ, a DATA or an OACK has no meaning for a server sending a file.
    this.o.hooks.dropped('unexpected', p.packet.op, from);
  }

  /** RFC 1350: a packet from another TID gets ERROR 5 and leaves the transfer alone. */
  private stranger(msg: Buffer, from: RemoteInfo): void {
    this.o.hooks.dropped('foreign-tid', `${from.address}:${from.port}`, from);
    // Never answer an "Unknown transfer ID" with another: two servers would bounce them forever.
    const isTidError = msg.length >= 4 && msg[0] === 0 && msg[1] === OP.ERROR && msg[2] === 0 && msg[3] === ERR.UNKNOWN_TID;
    if (isTidError || from.port === 0 || this.foreignReplies >= FOREIGN_REPLIES) return;
    this.foreignReplies++;
    this.reply(from.address, from.port, ERR.UNKNOWN_TID, 'Unknown transfer ID');
  }

  private act(a: Action, detail?: string): void {
    switch (a.kind) {
      case 'ignore':
        return;
      case 'wait':
        this.lastActive = Date.now();
        return;
      case 'oack':
        this.lastActive = Date.now();
        if (this.o.oack) this.sock.send(this.o.oack, this.port, this.addr);
        return;
      case 'send':
        this.lastActive = Date.now();
        this.queue(a.from, a.to);
        return;
      case 'done':
        this.finish(a.outcome, detail);
        return;
    }
  }

  private queue(from: number, to: number): void {
    if (this.qFrom > this.qTo) {
      this.qFrom = from;
      this.qTo = to;
    } else {
      // Only while a chunk loads: widen the pending run to cover both.
      this.qFrom = Math.min(this.qFrom, from);
      this.qTo = Math.max(this.qTo, to);
    }
    if (!this.loading) this.pump();
  }

  private pump(): void {
    while (this.qFrom <= this.qTo && !this.ended) {
      const b = this.qFrom;
      // Blocks the client confirmed while we waited for the disk need not go out again.
      if (b <= this.t.ackedBlocks) {
        this.qFrom++;
        continue;
      }
      if (!this.src.has(b)) {
        this.loadFrom(b);
        return;
      }
      this.sock.send(this.src.packet(b), this.port, this.addr);
      if (b > this.highest) {
        this.highest = b;
        this.unreported += this.src.length(b);
      }
      this.qFrom++;
    }
  }

  private loadFrom(block: number): void {
    this.report();
    // The slots being refilled may still back a datagram queued in the kernel path (EAGAIN):
    // wait for the socket's send queue to drain before overwriting them.
    if (this.sock.getSendQueueCount() > 0) {
      this.loading = true;
      setImmediate(() => {
        this.loading = false;
        if (!this.ended) this.loadFrom(block);
      });
      return;
    }
    this.loading = true;
    this.src.load(block).then(
      () => {
        this.loading = false;
        this.pump();
      },
      (err: unknown) => {
        this.loading = false;
        this.fail(err);
      },
    );
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.ended) return;
    try {
      const idle = Date.now() - this.lastActive;
      if (idle < this.timeoutMs) {
        this.timer = setTimeout(() => this.onTimer(), this.timeoutMs - idle);
        return;
      }
      this.act(this.t.timeout(), 'no answer from the client');
      if (!this.ended) this.timer = setTimeout(() => this.onTimer(), this.timeoutMs);
    } catch (err) {
      this.fail(err);
    }
  }

  private report(): void {
    if (this.unreported === 0) return;
    const n = this.unreported;
    this.unreported = 0;
    this.o.hooks.sent(n);
  }

  private reply(address: string, port: number, code: number, message: string): void {
    try {
      this.sock.send(encodeError(code, message), port, address);
    } catch {
      // The socket is closing; the peer learns by silence.
    }
  }

  private fail(err: unknown): void {
    if (this.ended) return;
    const message = err instanceof Error ? err.message : String(err);
    this.reply(this.addr, this.port, ERR.UNDEFINED, 'I/O error');
    this.finish('error', message);
  }

  private finish(outcome: Outcome | 'error', detail?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      this.sock.close();
    } catch {
      // already closed
    }
    void this.src.close().catch(() => undefined);
    this.report();
    this.o.hooks.done(outcome, detail);
  }
}
