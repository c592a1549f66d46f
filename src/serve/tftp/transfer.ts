// The sending side of one read transfer as a pure state machine: events in (ACK, timeout, peer
// ERROR), what to put on the wire out. No sockets, no clock, so every path is unit-tested.
//
// Blocks are numbered 1..blocks here, without wrapping; only the wire number (`wire()`) wraps at
// 65536 (to 0, as tftpd-hpa does), so files of more than 65535 blocks work for clients that
// roll over too.
//
// The Sorcerer's Apprentice (RFC 1123 4.2.3.1): a sender that answers every duplicate ACK with
// the next DATA doubles its traffic with each delayed packet. Here nothing is (re)sent because an
// ACK repeats: an ACK inside the window moves it and sends only blocks never sent before; the
// window is resent only when the timer fires.

import { KilnError } from '../../util/errors.js';

export type Outcome = 'ok' | 'aborted' | 'timeout';

export type Action =
  /** Nothing to do: a duplicate, old or out-of-window ACK, or the transfer is over. */
  | { kind: 'ignore' }
  /** The window moved but every block it holds is already in flight. */
  | { kind: 'wait' }
  /** Send blocks from..to (inclusive, unwrapped numbers). */
  | { kind: 'send'; from: number; to: number; retransmit: boolean }
  | { kind: 'oack' }
  | { kind: 'done'; outcome: Outcome };

export interface TransferConfig {
  /** Total DATA blocks, the last one short (possibly empty): floor(size / blockSize) + 1. */
  blocks: number;
  windowSize: number;
  /** Timeouts in a row without progress before giving up. */
  retries: number;
  /** Options were accepted: an OACK goes first and ACK 0 answers it. */
  oack: boolean;
}

/** A window larger than half the sequence space would make a wrapped ACK ambiguous. */
export const MAX_WINDOW = 32768;

const IGNORE: Action = { kind: 'ignore' };
const WAIT: Action = { kind: 'wait' };

export function blockCount(size: number, blockSize: number): number {
  return Math.floor(size / blockSize) + 1;
}

export function wire(block: number): number {
  return block & 0xffff;
}

export class Transfer {
  private phase: 'new' | 'oack' | 'data' | 'done' = 'new';
  /** Highest block the client acknowledged (0: none). */
  private acked = 0;
  /** Highest block sent so far. */
  private sent = 0;
  private misses = 0;
  private readonly window: number;

  constructor(private readonly cfg: TransferConfig) {
    if (cfg.blocks < 1) throw new KilnError('a transfer has at least one block');
    this.window = Math.max(1, Math.min(cfg.windowSize, MAX_WINDOW));
  }

  get ackedBlocks(): number {
    return this.acked;
  }

  get sentBlocks(): number {
    return this.sent;
  }

  get finished(): boolean {
    return this.phase === 'done';
  }

  start(): Action {
    if (this.phase !== 'new') return IGNORE;
    if (this.cfg.oack) {
      this.phase = 'oack';
      return { kind: 'oack' };
    }
    this.phase = 'data';
    return this.fill();
  }

  ack(wireBlock: number): Action {
    if (this.phase === 'oack') {
      if (wireBlock !== 0) return IGNORE;
      this.phase = 'data';
      this.misses = 0;
      return this.fill();
    }
    if (this.phase !== 'data') return IGNORE;
    // Which in-flight block this wire number names: at most one, since the window is < 65536.
    const ahead = (wireBlock - wire(this.acked)) & 0xffff;
    if (ahead === 0 || ahead > this.sent - this.acked) return IGNORE;
    this.acked += ahead;
    this.misses = 0;
    if (this.acked >= this.cfg.blocks) return this.end('ok');
    return this.fill();
  }

  timeout(): Action {
    if (this.phase === 'new' || this.phase === 'done') return IGNORE;
    if (++this.misses > this.cfg.retries) {
      // A client that stopped before confirming more than the first block was probing (the Pi
      // reads one block of a file to learn it exists) or went away: not a failed transfer.
      return this.end(this.acked <= 1 ? 'aborted' : 'timeout');
    }
    if (this.phase === 'oack') return { kind: 'oack' };
    return { kind: 'send', from: this.acked + 1, to: this.sent, retransmit: true };
  }

  /** The client sent ERROR: the transfer ends, which for a reader is its way to stop early. */
  peerError(): Action {
    if (this.phase === 'done') return IGNORE;
    return this.end('aborted');
  }

  private fill(): Action {
    const to = Math.min(this.acked + this.window, this.cfg.blocks);
    if (to <= this.sent) return WAIT;
    const from = this.sent + 1;
    this.sent = to;
    return { kind: 'send', from, to, retransmit: false };
  }

  private end(outcome: Outcome): Action {
    this.phase = 'done';
    return { kind: 'done', outcome };
  }
}
