import { describe, expect, it } from 'vitest';
import { Transfer, blockCount, wire, type Action } from '../../../src/serve/tftp/transfer.js';

const send = (from: number, to: number, retransmit = false): Action => ({ kind: 'send', from, to, retransmit });

describe('TFTP transfer state machine', () => {
  it('counts blocks the RFC 1350 way: a full last block is followed by an empty one', () => {
    expect(blockCount(0, 512)).toBe(1);
    expect(blockCount(511, 512)).toBe(1);
    expect(blockCount(512, 512)).toBe(2);
    expect(blockCount(180_000, 1024)).toBe(176);
  });

  it('lock-step: each ACK releases the next block; the last ACK ends it ok', () => {
    const t = new Transfer({ blocks: 3, windowSize: 1, retries: 5, oack: false });
    expect(t.start()).toEqual(send(1, 1));
    expect(t.ack(1)).toEqual(send(2, 2));
    expect(t.ack(2)).toEqual(send(3, 3));
    expect(t.ack(3)).toEqual({ kind: 'done', outcome: 'ok' });
    expect(t.ack(3)).toEqual({ kind: 'ignore' });
  });

  it("a duplicate ACK sends nothing (no Sorcerer's Apprentice)", () => {
    const t = new Transfer({ blocks: 100, windowSize: 1, retries: 5, oack: false });
    t.start();
    t.ack(1);
    expect(t.ack(2)).toEqual(send(3, 3));
    for (let i = 0; i < 10; i++) expect(t.ack(2)).toEqual({ kind: 'ignore' });
    // old and future ACKs likewise
    expect(t.ack(1)).toEqual({ kind: 'ignore' });
    expect(t.ack(0)).toEqual({ kind: 'ignore' });
    expect(t.ack(4)).toEqual({ kind: 'ignore' });
    expect(t.ack(3)).toEqual(send(4, 4));
  });

  it('only the timeout retransmits: the unacknowledged window, then gives up after the retries', () => {
    const t = new Transfer({ blocks: 100, windowSize: 4, retries: 3, oack: false });
    expect(t.start()).toEqual(send(1, 4));
    expect(t.ack(2)).toEqual(send(5, 6));
    expect(t.timeout()).toEqual(send(3, 6, true));
    expect(t.timeout()).toEqual(send(3, 6, true));
    expect(t.timeout()).toEqual(send(3, 6, true));
    expect(t.timeout()).toEqual({ kind: 'done', outcome: 'timeout' });
    expect(t.timeout()).toEqual({ kind: 'ignore' });
    expect(t.finished).toBe(true);
  });

  it('progress resets the retry count', () => {
    const t = new Transfer({ blocks: 10, windowSize: 1, retries: 1, oack: false });
    t.start();
    expect(t.timeout()).toEqual(send(1, 1, true));
    expect(t.ack(1)).toEqual(send(2, 2));
    expect(t.timeout()).toEqual(send(2, 2, true));
    expect(t.ack(2)).toEqual(send(3, 3));
    expect(t.timeout()).toEqual(send(3, 3, true));
    expect(t.timeout()).toEqual({ kind: 'done', outcome: 'timeout' });
  });

  it('windowed: an ACK inside the window slides it and sends only new blocks', () => {
    const t = new Transfer({ blocks: 40, windowSize: 16, retries: 5, oack: false });
    expect(t.start()).toEqual(send(1, 16));
    // a client that ACKs every block
    expect(t.ack(1)).toEqual(send(17, 17));
    expect(t.ack(2)).toEqual(send(18, 18));
    // a client that ACKs the end of its window, or skips some ACKs
    expect(t.ack(10)).toEqual(send(19, 26));
    expect(t.ack(5)).toEqual({ kind: 'ignore' });
    expect(t.ack(10)).toEqual({ kind: 'ignore' });
    expect(t.ack(26)).toEqual(send(27, 40));
    expect(t.ack(30)).toEqual({ kind: 'wait' });
    expect(t.timeout()).toEqual(send(31, 40, true));
    expect(t.ack(40)).toEqual({ kind: 'done', outcome: 'ok' });
  });

  it('rolls block numbers over to 0 past 65535', () => {
    const blocks = 70_000;
    expect(wire(65535)).toBe(65535);
    expect(wire(65536)).toBe(0);
    expect(wire(65537)).toBe(1);
    const t = new Transfer({ blocks, windowSize: 4, retries: 5, oack: false });
    let a = t.start();
    let acks = 0;
    while (a.kind === 'send' || a.kind === 'wait') {
      a = t.ack(wire(t.sentBlocks));
      acks++;
    }
    expect(a).toEqual({ kind: 'done', outcome: 'ok' });
    expect(t.ackedBlocks).toBe(blocks);
    expect(acks).toBe(blocks / 4);
    // across the wrap: ACK 0 names block 65536, not the OACK
    const u = new Transfer({ blocks, windowSize: 2, retries: 5, oack: false });
    u.start();
    for (let b = 2; b <= 65534; b += 2) u.ack(wire(b));
    expect(u.sentBlocks).toBe(65536);
    expect(u.ack(65535)).toEqual(send(65537, 65537));
    expect(u.ack(0)).toEqual(send(65538, 65538));
    expect(u.ackedBlocks).toBe(65536);
  });

  it('OACK first when options were accepted: retransmitted on timeout, data after ACK 0', () => {
    const t = new Transfer({ blocks: 5, windowSize: 2, retries: 2, oack: true });
    expect(t.start()).toEqual({ kind: 'oack' });
    expect(t.ack(1)).toEqual({ kind: 'ignore' });
    expect(t.timeout()).toEqual({ kind: 'oack' });
    expect(t.ack(0)).toEqual(send(1, 2));
    expect(t.ack(0)).toEqual({ kind: 'ignore' });
  });

  it('a client ERROR, or silence after the first block, is a probe: aborted, not an error', () => {
    const probe = new Transfer({ blocks: 176, windowSize: 1, retries: 5, oack: true });
    probe.start();
    probe.ack(0);
    expect(probe.peerError()).toEqual({ kind: 'done', outcome: 'aborted' });
    expect(probe.ack(1)).toEqual({ kind: 'ignore' });

    const gone = new Transfer({ blocks: 176, windowSize: 1, retries: 2, oack: true });
    gone.start();
    expect(gone.timeout()).toEqual({ kind: 'oack' });
    expect(gone.timeout()).toEqual({ kind: 'oack' });
    expect(gone.timeout()).toEqual({ kind: 'done', outcome: 'aborted' });

    const read1 = new Transfer({ blocks: 176, windowSize: 1, retries: 0, oack: false });
    read1.start();
    read1.ack(1);
    expect(read1.timeout()).toEqual({ kind: 'done', outcome: 'aborted' });

    const midway = new Transfer({ blocks: 176, windowSize: 1, retries: 0, oack: false });
    midway.start();
    midway.ack(1);
    midway.ack(2);
    expect(midway.timeout()).toEqual({ kind: 'done', outcome: 'timeout' });
  });

  it('an empty file is one empty block', () => {
    const t = new Transfer({ blocks: blockCount(0, 512), windowSize: 8, retries: 5, oack: false });
    expect(t.start()).toEqual(send(1, 1));
    expect(t.ack(1)).toEqual({ kind: 'done', outcome: 'ok' });
  });
});
