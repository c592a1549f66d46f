import { describe, expect, it } from 'vitest';
import {
  BLKSIZE_MAX,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  negotiate,
  parsePacket,
  type Packet,
  type ParseResult,
  type RequestOption,
} from '../../../src/serve/tftp/codec.js';
import { must } from '../../helpers/must.js';

const ok = (r: ParseResult): Packet => {
  if (!r.ok) throw new Error(`expected a packet, got ${r.reason}: ${r.detail}`);
  return r.packet;
};

const opts = (...pairs: [string, string][]): RequestOption[] => pairs.map(([name, value]) => ({ name, key: name.toLowerCase(), value }));
const limits = { maxBlockSize: 1468, maxWindowSize: 16, size: 180_000 };

/** A deterministic generator so a failing mutation can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('TFTP codec: round trips', () => {
  it('RRQ with options, mode and option names in any case', () => {
    const wire = encodeRequest('rrq', '1234abcd/start4.elf', 'OcTeT', [
      ['BLKSIZE', '1024'],
      ['tsize', '0'],
      ['WindowSize', '8'],
    ]);
    const p = ok(parsePacket(wire));
    expect(p).toEqual({
      op: 'rrq',
      filename: '1234abcd/start4.elf',
      mode: 'octet',
      options: [
        { name: 'BLKSIZE', key: 'blksize', value: '1024' },
        { name: 'tsize', key: 'tsize', value: '0' },
        { name: 'WindowSize', key: 'windowsize', value: '8' },
      ],
    });
  });

  it('WRQ, netascii and mail modes', () => {
    expect(ok(parsePacket(encodeRequest('wrq', 'x.txt', 'NETASCII')))).toMatchObject({ op: 'wrq', mode: 'netascii', options: [] });
    expect(ok(parsePacket(encodeRequest('rrq', 'x.txt', 'Mail')))).toMatchObject({ op: 'rrq', mode: 'mail' });
  });

  it('DATA, ACK, ERROR and OACK', () => {
    const payload = Buffer.from('hello');
    expect(ok(parsePacket(encodeData(65535, payload)))).toEqual({ op: 'data', block: 65535, data: payload });
    expect(ok(parsePacket(encodeData(0, Buffer.alloc(0))))).toEqual({ op: 'data', block: 0, data: Buffer.alloc(0) });
    expect(ok(parsePacket(encodeAck(258)))).toEqual({ op: 'ack', block: 258 });
    expect(ok(parsePacket(encodeError(5, 'Unknown transfer ID')))).toEqual({ op: 'error', code: 5, message: 'Unknown transfer ID' });
    const oack = ok(
      parsePacket(
        encodeOack([
          ['blksize', '1024'],
          ['tsize', '180000'],
        ]),
      ),
    );
    expect(oack).toEqual({ op: 'oack', options: opts(['blksize', '1024'], ['tsize', '180000']) });
  });

  it('tolerates what real clients send: padding NULs after a request, ERROR without its NUL', () => {
    const padded = Buffer.concat([encodeRequest('rrq', 'a', 'octet', [['tsize', '0']]), Buffer.alloc(3)]);
    expect(ok(parsePacket(padded))).toMatchObject({ options: opts(['tsize', '0']) });
    expect(ok(parsePacket(Buffer.from([0, 5, 0, 0, 0x45, 0x61, 0x72, 0x6c, 0x79])))).toEqual({ op: 'error', code: 0, message: 'Early' });
  });
});

describe('TFTP codec: malformed input gives a typed failure, never an exception', () => {
  it('short and empty datagrams', () => {
    for (const b of [[], [0], [0, 3, 1], [0, 4], [0, 4, 0], [0, 5, 0]]) {
      const r = parsePacket(Buffer.from(b));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toBe('malformed');
    }
  });

  it('unknown opcodes, bad modes, unterminated fields, oversize and non-ASCII requests', () => {
    const fail = (b: Buffer): string => {
      const r = parsePacket(b);
      if (r.ok) throw new Error(`parsed: ${JSON.stringify(r.packet)}`);
      return `${r.reason}: ${r.detail}`;
    };
    expect(fail(Buffer.from([0, 9, 1, 2]))).toBe('bad-opcode: opcode 9');
    expect(fail(Buffer.from([0xff, 0xff]))).toBe('bad-opcode: opcode 65535');
    expect(fail(encodeRequest('rrq', 'a', 'bogus'))).toMatch(/^malformed: mode/);
    expect(fail(Buffer.from('\0\x01abc', 'latin1'))).toMatch(/filename not terminated/);
    expect(fail(Buffer.from('\0\x01abc\0octet', 'latin1'))).toMatch(/mode not terminated/);
    expect(fail(Buffer.from('\0\x01\0octet\0', 'latin1'))).toMatch(/empty filename/);
    expect(fail(Buffer.from('\0\x01a\0octet\0blksize', 'latin1'))).toMatch(/option name not terminated/);
    expect(fail(Buffer.from('\0\x01a\0octet\0blksize\0', 'latin1'))).toMatch(/option value/);
    expect(fail(encodeRequest('rrq', 'x'.repeat(600), 'octet'))).toMatch(/request of 609 bytes/);
    expect(fail(Buffer.concat([Buffer.from([0, 1, 0xe9]), Buffer.from('\0octet\0')]))).toMatch(/non-ASCII/);
  });

  it('every truncation of valid packets is a packet or a typed failure', () => {
    const valid = [
      encodeRequest('rrq', '1234abcd/start4.elf', 'octet', [
        ['blksize', '1024'],
        ['tsize', '0'],
        ['windowsize', '16'],
      ]),
      encodeRequest('wrq', 'up.bin', 'netascii', [['timeout', '3']]),
      encodeData(7, Buffer.alloc(1024, 0x55)),
      encodeAck(65535),
      encodeError(8, 'option refused'),
      encodeOack([
        ['blksize', '1468'],
        ['tsize', '12345'],
      ]),
    ];
    let failures = 0;
    for (const v of valid) {
      for (let n = 0; n < v.length; n++) {
        const r = parsePacket(v.subarray(0, n));
        if (!r.ok) {
          failures++;
          expect(['malformed', 'bad-opcode']).toContain(r.reason);
          expect(typeof r.detail).toBe('string');
        }
      }
    }
    // Most cuts land inside a field; those must be reported, not half-parsed.
    expect(failures).toBeGreaterThan(60);
    // A cut inside a request's filename or mode is always a failure.
    const rrq = must(valid[0], 'the RRQ');
    const modeEnd = rrq.indexOf(0, rrq.indexOf(0, 2) + 1);
    for (let n = 0; n <= modeEnd; n++) expect(parsePacket(rrq.subarray(0, n)).ok).toBe(false);
  });

  it('random byte mutations and random datagrams never throw', () => {
    const next = rng(1350);
    const base = [
      encodeRequest('rrq', 'dc-a6-32-01-02-03/initrd.img', 'octet', [
        ['blksize', '1024'],
        ['tsize', '0'],
      ]),
      encodeData(1, Buffer.alloc(64, 1)),
      encodeAck(1),
      encodeError(0, 'Early terminate'),
      encodeOack([['windowsize', '16']]),
    ];
    for (let i = 0; i < 20_000; i++) {
      const src = must(base[i % base.length], `base packet ${i % base.length}`);
      const b = Buffer.from(src);
      const flips = 1 + Math.floor(next() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(next() * b.length)] = Math.floor(next() * 256);
      const cut = next() < 0.5 ? b.subarray(0, Math.floor(next() * (b.length + 1))) : b;
      const r = parsePacket(cut);
      expect(typeof r.ok).toBe('boolean');
      if (!r.ok) expect(['malformed', 'bad-opcode']).toContain(r.reason);
    }
    for (let i = 0; i < 5_000; i++) {
      const b = Buffer.alloc(Math.floor(next() * 40));
      for (let k = 0; k < b.length; k++) b[k] = next() < 0.3 ? 0 : Math.floor(next() * 256);
      if (b.length >= 2 && next() < 0.7) b[0] = 0;
      const r = parsePacket(b);
      if (!r.ok) expect(['malformed', 'bad-opcode']).toContain(r.reason);
    }
  });
});

describe('TFTP option negotiation', () => {
  it('grants blksize, tsize (the real size), timeout and windowsize, echoing the client spelling', () => {
    const n = negotiate(opts(['BlkSize', '1024'], ['TSIZE', '0'], ['timeout', '3'], ['windowsize', '8']), limits);
    expect(n).toEqual({
      blockSize: 1024,
      windowSize: 8,
      timeoutMs: 3000,
      accepted: [
        ['BlkSize', '1024'],
        ['TSIZE', '180000'],
        ['timeout', '3'],
        ['windowsize', '8'],
      ],
    });
  });

  it('clamps blksize and windowsize to our maximum', () => {
    const n = negotiate(opts(['blksize', String(BLKSIZE_MAX)], ['windowsize', '65535']), limits);
    expect(n.blockSize).toBe(1468);
    expect(n.windowSize).toBe(16);
    expect(n.accepted).toEqual([
      ['blksize', '1468'],
      ['windowsize', '16'],
    ]);
  });

  it('ignores unknown options and options with bad values instead of failing', () => {
    const n = negotiate(
      opts(
        ['blksize', '7'],
        ['blksize', '1024'], // a repeat: the first occurrence decides
        ['windowsize', '0'],
        ['timeout', '256'],
        ['tsize', '-1'],
        ['multicast', ''],
        ['rollover', '0'],
      ),
      limits,
    );
    expect(n).toEqual({ blockSize: 512, windowSize: 1, accepted: [] });
    const odd = negotiate(opts(['blksize', '65465'], ['timeout', '0'], ['windowsize', '65536'], ['blksize', 'x'], ['tsize', '1e3']), limits);
    expect(odd.accepted).toEqual([]);
  });

  it('no options: plain RFC 1350 (512-byte blocks, lock-step, no OACK)', () => {
    expect(negotiate([], limits)).toEqual({ blockSize: 512, windowSize: 1, accepted: [] });
  });
});
