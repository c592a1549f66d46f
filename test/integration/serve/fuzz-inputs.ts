import type { Prng } from './prng.js';
import { OP, ack, rrq, tftpError } from './pi-tftp.js';

// Seeded generators of hostile inputs for kiln's DHCP, TFTP and HTTP servers: random bytes and
// mutations of valid packets and requests. Pure: the same Prng state gives the same cases.

export interface FuzzCase {
  kind: string;
  data: Buffer;
}

// ---------------------------------------------------------------------------------------------
// generic mutations

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x20, 0x2e, 0x2f, 0x25];

export function bitflip(rng: Prng, buf: Buffer, flips: number, from = 0): Buffer {
  const out = Buffer.from(buf);
  if (out.length <= from) return out;
  for (let i = 0; i < flips; i++) {
    const pos = rng.range(from, out.length - 1);
    out[pos] = (out[pos] ?? 0) ^ (1 << rng.int(8));
  }
  return out;
}

function smash(rng: Prng, buf: Buffer, n: number, from = 0): Buffer {
  const out = Buffer.from(buf);
  if (out.length <= from) return out;
  for (let i = 0; i < n; i++) out[rng.range(from, out.length - 1)] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256);
  return out;
}

function truncate(rng: Prng, buf: Buffer): Buffer {
  return buf.subarray(0, rng.int(buf.length));
}

function randomLength(rng: Prng, sizes: readonly number[], max: number): number {
  return rng.chance(0.6) ? rng.pick(sizes) : rng.int(max + 1);
}

// ---------------------------------------------------------------------------------------------
// DHCP: mutations of a valid Pi 4 DISCOVER / REQUEST

const DHCP_OPTIONS_AT = 240;
const DHCP_SIZES = [0, 1, 2, 4, 100, 235, 236, 239, 240, 241, 243, 300, 548, 576, 1024, 1499, 1500, 1501, 4096, 9000];

/** Offsets of the options of a well-formed packet (code byte), END excluded. */
function optionOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  let off = DHCP_OPTIONS_AT;
  while (off < buf.length) {
    const code = buf[off] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      off++;
      continue;
    }
    out.push(off);
    off += 2 + (buf[off + 1] ?? 0);
  }
  return out;
}

function withoutEnd(buf: Buffer): Buffer {
  const offs = optionOffsets(buf);
  const last = offs.at(-1);
  return last === undefined ? buf.subarray(0, DHCP_OPTIONS_AT) : buf.subarray(0, last + 2 + (buf[last + 1] ?? 0));
}

function opt(code: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([code, value.length & 0xff]), value.subarray(0, 255)]);
}

export interface DhcpTemplates {
  discover: Buffer;
  request: Buffer;
  /** Serials of registered nodes: a DISCOVER with one of them and any MAC is a node to kiln. */
  serials: string[];
  pool: { start: string; end: string };
}

export function dhcpCase(rng: Prng, t: DhcpTemplates): FuzzCase {
  const base = rng.chance(0.7) ? t.discover : t.request;
  const k = rng.int(17);
  switch (k) {
    case 0:
      return { kind: 'random', data: rng.bytes(randomLength(rng, DHCP_SIZES, 1600)) };
    case 1:
      return { kind: 'zero-length', data: Buffer.alloc(0) };
    case 2:
      return { kind: 'truncated', data: truncate(rng, base) };
    case 3:
      return { kind: 'bitflip', data: bitflip(rng, base, rng.range(1, 16)) };
    case 4:
      return { kind: 'bitflip-options', data: bitflip(rng, base, rng.range(1, 8), DHCP_OPTIONS_AT) };
    case 5:
      return { kind: 'smash', data: smash(rng, base, rng.range(1, 12)) };
    case 6: {
      const d = Buffer.from(base);
      d.writeUInt32BE(rng.chance(0.5) ? rng.u32() : 0x63825364, 236);
      return { kind: 'bad-cookie', data: d };
    }
    case 7: {
      const d = Buffer.from(base);
      const offs = optionOffsets(d);
      const at = rng.pick(offs);
      const len = d[at + 1] ?? 0;
      d[at + 1] = rng.pick([0, 1, 255, len + 1, len - 1, len + 2, rng.int(256)]) & 0xff;
      return { kind: 'bad-option-length', data: d };
    }
    case 8: {
      // options running past the end, or a packet far over the size kiln accepts
      const parts = [withoutEnd(base)];
      const n = rng.range(1, 12);
      for (let i = 0; i < n; i++) parts.push(opt(rng.range(1, 254), rng.bytes(255)));
      if (rng.chance(0.5)) parts.push(Buffer.from([255]));
      return { kind: 'overlong-options', data: Buffer.concat(parts) };
    }
    case 9: {
      // option overload (52): sname/file said to carry options, filled with junk
      const d = Buffer.from(withoutEnd(base));
      const junk = rng.bytes(192);
      junk.copy(d, 44);
      return { kind: 'option-overload', data: Buffer.concat([d, opt(52, Buffer.from([rng.pick([1, 2, 3, 0, 255])])), Buffer.from([255])]) };
    }
    case 10:
      return { kind: 'no-end', data: withoutEnd(base) };
    case 11: {
      // repeated codes are concatenated (RFC 3396): a second 53, 97, 60, 50 or 54 changes the value
      const code = rng.pick([53, 97, 60, 50, 54, 61, 93, 55, 12]);
      const extra = opt(code, rng.bytes(rng.pick([0, 1, 2, 4, 16, 17, 200, 255])));
      return { kind: 'repeated-option', data: Buffer.concat([withoutEnd(base), extra, Buffer.from([255])]) };
    }
    case 12: {
      const d = Buffer.from(base);
      const field = rng.int(7);
      if (field === 0) d[0] = rng.int(256); // op
      if (field === 1) d[1] = rng.int(256); // htype
      if (field === 2) d[2] = rng.pick([0, 1, 5, 7, 16, 17, 255]); // hlen
      if (field === 3) d.writeUInt32BE(rng.u32(), 24); // giaddr: a relay kiln would answer
      if (field === 4) d.writeUInt32BE(rng.u32(), 12); // ciaddr
      if (field === 5) rng.bytes(16).copy(d, 28); // chaddr
      if (field === 6) d[3] = rng.int(256); // hops
      return { kind: 'header-field', data: d };
    }
    case 13: {
      // any message type, with a requested address and a server id, inside or outside the pool
      const d = withoutEnd(base);
      const type = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 255]);
      const ip = rng.chance(0.5) ? Buffer.from(t.pool.start.split('.').map(Number)) : rng.bytes(4);
      return { kind: `type-${type}`, data: Buffer.concat([d, opt(53, Buffer.from([type])), opt(50, ip), opt(54, rng.bytes(4)), Buffer.from([255])]) };
    }
    case 14: {
      // option 97 variants: wrong type byte, wrong length, legacy format, a known serial with a random MAC
      const d = Buffer.from(base);
      const at = optionOffsets(d).find((o) => d[o] === 97);
      if (at !== undefined) {
        const v = rng.int(4);
        if (v === 0) d[at + 2] = rng.range(1, 255);
        if (v === 1) rng.bytes(4).copy(d, at + 3);
        if (v === 2) d.writeUInt32LE(parseInt(rng.pick(t.serials), 16) >>> 0, at + 15);
        if (v === 3) d[at + 1] = rng.pick([16, 18, 0]);
        rng.bytes(6).copy(d, 28);
      }
      return { kind: 'option-97', data: d };
    }
    case 15:
      return { kind: 'pad-flood', data: Buffer.concat([base.subarray(0, DHCP_OPTIONS_AT), Buffer.alloc(rng.range(1, 1400), 0), Buffer.from([255])]) };
    default: {
      // huge vendor class / client id / hostname
      const code = rng.pick([60, 61, 12, 43, 55]);
      const parts = [withoutEnd(base)];
      for (let i = 0; i < rng.range(1, 5); i++) parts.push(opt(code, rng.bytes(255)));
      parts.push(Buffer.from([255]));
      return { kind: 'long-option', data: Buffer.concat(parts) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TFTP: the listening port, and a live transfer's port

const TFTP_NAMES = [
  '',
  '.',
  '/',
  '..',
  '../../etc/passwd',
  '/etc/passwd',
  '..\\..\\etc\\passwd',
  '%2e%2e/%2e%2e/etc/passwd',
  'pxelinux.cfg/../../etc/passwd',
  'pxelinux.cfg/01-PFX',
  'pxelinux.cfg/default',
  'pxelinux.cfg/',
  'bootcode.bin',
  'start4.elf',
  'config.txt',
  'x'.repeat(255),
  'x'.repeat(256),
  'a/'.repeat(200),
  './.././../',
  '\x01\x02\x7f',
  '\xff\xfe\xfd',
  'PFX/../../../etc/passwd',
  'UPFX/start4.elf',
  'PFX/.hidden',
  'PFX//start4.elf',
  'PFX/installer/../../start4.elf',
  'PFX/overlays/',
];

const TFTP_MODES = ['octet', 'OCTET', 'netascii', 'mail', 'binary', '', 'octet\x01', 'x'.repeat(300)];
const TFTP_OPTS = ['blksize', 'tsize', 'windowsize', 'timeout', 'rollover', 'BLKSIZE', 'multicast', 'utimeout', '', 'x'.repeat(100)];
const TFTP_VALUES = [
  '0',
  '1',
  '7',
  '8',
  '511',
  '512',
  '1024',
  '1468',
  '65464',
  '65465',
  '65536',
  '-1',
  '1e3',
  '0x400',
  '1024.0',
  '',
  ' 8',
  'abc',
  '99999999999999999999',
  'NaN',
  'Infinity',
];

function rrqFrom(rng: Prng, names: readonly string[]): Buffer {
  const options: string[] = [];
  const n = rng.chance(0.3) ? 0 : rng.chance(0.85) ? rng.range(1, 6) : rng.range(20, 120);
  for (let i = 0; i < n; i++) options.push(rng.pick(TFTP_OPTS), rng.pick(TFTP_VALUES));
  if (rng.chance(0.1)) options.push(rng.pick(TFTP_OPTS)); // a name without a value
  const parts = [rng.pick(names), rng.chance(0.8) ? 'octet' : rng.pick(TFTP_MODES), ...options];
  let body = Buffer.concat(parts.map((p) => Buffer.from(`${p}\0`, 'latin1')));
  if (rng.chance(0.1)) body = body.subarray(0, body.length - 1); // last string not terminated
  return Buffer.concat([Buffer.from([0, rng.chance(0.9) ? OP.RRQ : OP.WRQ]), body]);
}

/**
 * A datagram for the TFTP listening port. `names` are valid node paths (their RRQs start real
 * transfers, which the fuzzer then aborts); `prefix` is a registered node's MAC with dashes.
 */
export function tftpListenCase(rng: Prng, names: readonly string[], prefix: string): FuzzCase {
  const hostile = TFTP_NAMES.map((n) => n.replaceAll('UPFX', prefix.toUpperCase()).replaceAll('PFX', prefix));
  const valid = rrq(rng.pick(names), rng.chance(0.5) ? { blksize: '1024', tsize: '0' } : {});
  const k = rng.int(12);
  switch (k) {
    case 0:
      return { kind: 'tiny', data: rng.bytes(rng.int(4)) };
    case 1:
      return { kind: 'random', data: rng.bytes(randomLength(rng, [4, 8, 9, 511, 512, 513, 1400, 8000], 700)) };
    case 2:
    case 3:
      return { kind: 'rrq-field-mutation', data: rrqFrom(rng, [...hostile, ...names]) };
    case 4:
      return { kind: 'rrq-truncated', data: truncate(rng, valid) };
    case 5:
      return { kind: 'rrq-bitflip', data: bitflip(rng, valid, rng.range(1, 6)) };
    case 6:
      return { kind: 'rrq-smash', data: smash(rng, valid, rng.range(1, 6), 2) };
    case 7: {
      // a huge option list: every option the parser knows, many times, up to and past 512 bytes
      const opts: Record<string, string> = {};
      const n = rng.range(20, 90);
      for (let i = 0; i < n; i++) opts[`${rng.pick(TFTP_OPTS)}${i}`] = rng.pick(TFTP_VALUES);
      return { kind: 'rrq-huge-options', data: rrq(rng.pick(names), opts) };
    }
    case 8:
      return {
        kind: 'rrq-bad-option-values',
        data: rrq(rng.pick(names), { [rng.pick(['blksize', 'tsize', 'windowsize', 'timeout', 'rollover'])]: rng.pick(TFTP_VALUES) }),
      };
    case 9: {
      // packets that belong to a transfer, sent to the listening port
      const op = rng.pick([OP.DATA, OP.ACK, OP.ERROR, OP.OACK, OP.WRQ]);
      return { kind: `stray-op-${op}`, data: Buffer.concat([Buffer.from([0, op]), rng.bytes(rng.int(520))]) };
    }
    case 10:
      return { kind: 'unknown-opcode', data: Buffer.concat([Buffer.from([rng.int(256), rng.pick([0, 7, 8, 9, 255, rng.int(256)])]), rng.bytes(rng.int(40))]) };
    default:
      return { kind: 'rrq-odd', data: rrqFrom(rng, names) };
  }
}

/** A datagram for a live transfer's port; `lastData` is the last DATA or OACK it sent. */
export function tftpTransferCase(rng: Prng, lastData: Buffer | undefined, lastBlock: number): FuzzCase {
  const k = rng.int(12);
  switch (k) {
    case 0:
      return { kind: 'empty', data: Buffer.alloc(0) };
    case 1:
      return { kind: 'one-byte', data: rng.bytes(1) };
    case 2:
      return { kind: 'short', data: rng.bytes(rng.range(2, 3)) };
    case 3: {
      const block = rng.pick([lastBlock, lastBlock + 1, lastBlock - 1, 0, 65535, rng.int(65536)]) & 0xffff;
      const a = ack(block);
      // an ACK must be exactly 4 bytes
      return { kind: 'ack', data: rng.chance(0.5) ? a : Buffer.concat([a, rng.bytes(rng.range(1, 600))]) };
    }
    case 4: {
      const e = tftpError(rng.int(65536), 'x'.repeat(rng.int(600)));
      const v = rng.int(3);
      return { kind: 'error', data: v === 0 ? e : v === 1 ? e.subarray(0, 4) : e.subarray(0, e.length - 1) };
    }
    case 5:
      return { kind: 'data', data: Buffer.concat([Buffer.from([0, OP.DATA, rng.int(256), rng.int(256)]), rng.bytes(rng.pick([0, 1, 512, 1024, 1468]))]) };
    case 6:
      return { kind: 'rrq', data: rrq('start4.elf', rng.chance(0.5) ? { blksize: '8' } : {}) };
    case 7:
      return { kind: 'oack', data: Buffer.concat([Buffer.from([0, OP.OACK]), Buffer.from('blksize\x0065464\x00', 'latin1')]) };
    case 8:
      return { kind: 'unknown-opcode', data: Buffer.concat([Buffer.from([rng.int(256), rng.int(256)]), rng.bytes(rng.int(20))]) };
    case 9:
      return { kind: 'echo-bitflip', data: lastData ? bitflip(rng, lastData, rng.range(1, 4)) : rng.bytes(4) };
    case 10:
      return { kind: 'random', data: rng.bytes(rng.pick([4, 5, 100, 516, 1500, 9000, rng.int(1600)])) };
    default:
      return { kind: 'ack-truncated', data: ack(lastBlock).subarray(0, rng.int(4)) };
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP over raw TCP

export interface HttpCase {
  kind: string;
  /** Written in order; `pauseMs` between chunks (slow clients). */
  chunks: Buffer[];
  pauseMs?: number;
  /** Close without waiting for an answer after the last chunk (a client that gives up). */
  hangUp?: boolean;
  /** The request tries to reach a file outside what kiln serves: must never get a 2xx. */
  traversal?: boolean;
}

export interface HttpTargets {
  host: string;
  image: string;
  imageFile: string;
  imageSize: number;
  node: string;
  token: string;
}

const RANGE_NUMS = [
  '',
  '0',
  '1',
  '5',
  '-1',
  '0x0',
  '0x10',
  '1e3',
  '99999999999999999999',
  '18446744073709551616',
  ' 7',
  '+5',
  '\u0663',
  '00000000000000000001',
  '4294967296',
];

export function rangeValue(rng: Prng, size: number): string {
  const fixed = [
    'bytes=0x0-0x10',
    'bytes=5-1',
    'bytes=-0',
    'bytes=0-1,5-10',
    'bytes=',
    'bytes=-',
    'bytes=--1',
    'bytes=0-',
    `bytes=${size}-`,
    `bytes=${size - 1}-${size * 2}`,
    'bytes=0-0,-1',
    'items=0-1',
    'Bytes=0-1',
    'bytes 0-1',
    'bytes=1-0,0-1',
    'bytes=0-1,,2-3',
    'bytes=0-1;2-3',
    'bytes=a-b',
    'bytes=\u00ff-1',
    `bytes=${'0-1,'.repeat(500)}0-1`,
  ];
  if (rng.chance(0.4)) return rng.pick(fixed);
  const n = rng.chance(0.8) ? 1 : rng.range(2, 60);
  const one = (): string => {
    const a = rng.chance(0.5) ? String(rng.int(size * 2)) : rng.pick(RANGE_NUMS);
    const b = rng.chance(0.5) ? String(rng.int(size * 2)) : rng.pick(RANGE_NUMS);
    return `${a}-${b}`;
  };
  return `bytes=${Array.from({ length: n }, one).join(',')}`;
}

const TRAVERSALS = [
  '/images/%2e%2e/%2e%2e/etc/passwd',
  '/images/..%2f..%2f..%2fetc%2fpasswd/x',
  '/images/IMG/%2e%2e%2fmanifest.json',
  '/images/IMG/..%2F..%2F..%2F..%2Fetc%2Fpasswd',
  '/images/IMG/%2e%2e',
  '/images/IMG/installer/..%2f..%2f..%2f..%2fetc%2fpasswd',
  '/images/IMG/boot',
  '/images/IMG/boot%2fconfig.txt',
  '/images/IMG/IMG.img%00.txt',
  '/images/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd',
  '/images/IMG/%252e%252e%252fapi-token',
  '/images/../../etc/passwd',
  '/%2e%2e/%2e%2e/etc/passwd',
  '//etc/passwd',
  '/seed/..%2f..%2fapi-token/user-data',
  '/seed/NODE/..%2f..%2f..%2fetc%2fpasswd',
  '/images/IMG/.%2e/.%2e/etc/passwd',
  '/images/IMG/..\\..\\etc\\passwd',
  '/images/IMG/%u002e%u002e/passwd',
  '/images/IMG/manifest.json/..%2f..%2f..%2f..%2fetc%2fpasswd',
];

const BAD_PATHS = [
  '/%',
  '/%%',
  '/%zz',
  '/images/%zz/x',
  '/images/IMG/%',
  '/api/events?limit=%ff',
  '/api/events?limit=1e309',
  '/api/events?node=%00',
  '/api/nodes/%00',
  '/api/nodes/%ff%fe',
  '/seed/%00/user-data',
  '/*',
  '*',
  '',
  'http://evil.example/',
  '/api/events?after=-1&after=2',
  '/api/events?__proto__=1',
  `/${'a'.repeat(70_000)}`,
  `/api/events?node=${'%41'.repeat(5000)}`,
];

function request(method: string, path: string, headers: [string, string][], body?: Buffer | string): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`), '', ''];
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body === undefined ? Buffer.alloc(0) : Buffer.from(body)]);
}

export function httpCase(rng: Prng, t: HttpTargets): HttpCase {
  const sub = (p: string): string => p.replaceAll('IMG', t.image).replaceAll('NODE', t.node);
  const host: [string, string] = ['Host', `${t.host}:8080`];
  const auth: [string, string] = ['Authorization', `Bearer ${t.token}`];
  const close: [string, string] = ['Connection', 'close'];
  const imagePath = `/images/${t.image}/${t.imageFile}`;
  const valid = (): Buffer =>
    rng.pick([
      () => request('GET', imagePath, [host, ['Range', 'bytes=0-99'], close]),
      () => request('GET', '/health', [host, close]),
      () => request('GET', '/api/nodes', [host, auth, close]),
      () => request('GET', `/api/nodes/${t.node}`, [host, auth, close]),
      () => request('GET', `/seed/${t.node}/user-data`, [host, close]),
      () => {
        const body = JSON.stringify({ name: `fz-${rng.int(1000)}`, mac: '02:00:00:00:f0:01' });
        return request('POST', '/api/nodes', [host, auth, ['Content-Type', 'application/json'], ['Content-Length', String(body.length)], close], body);
      },
    ])();
  const k = rng.int(16);
  switch (k) {
    case 0:
    case 1:
      return { kind: 'range', chunks: [request('GET', imagePath, [host, ['Range', rangeValue(rng, t.imageSize)], close])] };
    case 2:
      return { kind: 'traversal', traversal: true, chunks: [request('GET', sub(rng.pick(TRAVERSALS)), [host, auth, close])] };
    case 3:
      return { kind: 'bad-url', chunks: [request('GET', sub(rng.pick(BAD_PATHS)), [host, auth, close])] };
    case 4: {
      const lines = [
        'GET\r\n\r\n',
        'GET /\r\n\r\n',
        'GET / HTTP/9.9\r\n\r\n',
        'GET / HTTP/1.1\r\n\r\n',
        'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        '\r\n\r\n\r\n',
        'GET  /health  HTTP/1.1\r\nHost: x\r\n\r\n',
        'get /health http/1.1\r\n\r\n',
        'G\0T /health HTTP/1.1\r\n\r\n',
        'GET /health HTTP/1.1\nHost: x\n\n',
        `${'A'.repeat(rng.range(1, 5000))} / HTTP/1.1\r\n\r\n`,
        'CONNECT 127.0.0.1:22 HTTP/1.1\r\n\r\n',
        'TRACE / HTTP/1.1\r\nHost: x\r\n\r\n',
        'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
        'DELETE /api/nodes/pi-01 HTTP/1.1\r\nHost: x\r\n\r\n',
        'GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
        'GET /health HTTP/1.1\r\nNoColon\r\n\r\n',
        'GET /health HTTP/1.1\r\nX: a\r\n folded\r\n\r\n',
        'GET /health HTTP/1.1\r\nX: \0\r\n\r\n',
      ];
      return { kind: 'request-line', chunks: [Buffer.from(rng.pick(lines), 'latin1')] };
    }
    case 5: {
      // huge headers: one giant line, or thousands of small ones
      const headers: [string, string][] = [host];
      if (rng.chance(0.5)) headers.push(['X-Big', 'x'.repeat(rng.pick([8_000, 17_000, 70_000, 300_000]))]);
      else for (let i = 0; i < rng.pick([200, 2000, 5000]); i++) headers.push([`X-H${i}`, 'v']);
      headers.push(close);
      return { kind: 'huge-headers', chunks: [request('GET', rng.chance(0.5) ? '/health' : imagePath, headers)] };
    }
    case 6: {
      // bodies whose Content-Length lies, or that carry both CL and chunked
      const body = JSON.stringify({ name: 'fz-cl', mac: '02:00:00:00:f0:02' });
      const cl = rng.pick([
        String(body.length + 50),
        String(body.length - 5),
        '-1',
        'abc',
        '1e3',
        '99999999999999999999',
        `${body.length}, ${body.length + 1}`,
        '0',
      ]);
      const headers: [string, string][] = [host, auth, ['Content-Type', 'application/json'], ['Content-Length', cl]];
      if (rng.chance(0.3)) headers.push(['Transfer-Encoding', rng.pick(['chunked', 'gzip, chunked', 'chunked, identity', 'xchunked'])]);
      if (rng.chance(0.3)) headers.push(['Content-Length', String(body.length)]);
      return {
        kind: 'content-length',
        hangUp: rng.chance(0.3),
        chunks: [request('POST', rng.chance(0.7) ? '/api/nodes' : `/api/nodes/${t.node}/events`, headers, body)],
      };
    }
    case 7: {
      const chunked = rng.pick([
        '5\r\nhello\r\n0\r\n\r\n',
        'zz\r\nhello\r\n0\r\n\r\n',
        'ffffffffffffffff\r\nx\r\n',
        '5\r\nhel',
        '-1\r\n\r\n',
        '5;ext=\0\r\nhello\r\n0\r\n\r\n',
        '0\r\nX-Trailer: 1\r\n\r\n',
      ]);
      return {
        kind: 'chunked',
        chunks: [request('POST', '/api/nodes', [host, auth, ['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked']], chunked)],
      };
    }
    case 8: {
      // a slow client: the request trickles in, then the client hangs up part-way
      const full = valid();
      const cut = rng.range(1, full.length - 1);
      const pieces: Buffer[] = [];
      for (let i = 0; i < cut; i += rng.range(1, 40)) pieces.push(full.subarray(i, Math.min(cut, i + 40)));
      return { kind: 'slow-partial', chunks: pieces.slice(0, 12), pauseMs: rng.range(5, 60), hangUp: true };
    }
    case 9:
      return { kind: 'bitflip', chunks: [bitflip(rng, valid(), rng.range(1, 8))] };
    case 10:
      return { kind: 'truncated', hangUp: rng.chance(0.5), chunks: [truncate(rng, valid())] };
    case 11:
      return { kind: 'smash', chunks: [smash(rng, valid(), rng.range(1, 10))] };
    case 12:
      return { kind: 'random', chunks: [rng.bytes(rng.pick([1, 16, 200, 4000, rng.int(3000)]))] };
    case 13: {
      // pipelined: a valid request followed by junk on the same connection
      return {
        kind: 'pipelined',
        chunks: [
          Buffer.concat([
            valid().subarray(0, -2),
            Buffer.from('\r\n'),
            request('GET', imagePath, [host, ['Range', rangeValue(rng, t.imageSize)]]),
            rng.bytes(rng.int(200)),
          ]),
        ],
      };
    }
    case 14: {
      const bodies = [
        '{"name":',
        '[]',
        'null',
        '{"name":"a","mac":"zz"}',
        '{"__proto__":{"admin":true},"name":"fz-p","mac":"02:00:00:00:f0:03"}',
        JSON.stringify({ name: 'x'.repeat(200), mac: '02:00:00:00:f0:04' }),
        JSON.stringify({ name: 'fz-big', pad: 'x'.repeat(70_000) }),
        '\u0000',
        '{"name":"fz-s","serial":"zzzzzzzz"}',
        JSON.stringify({ name: 'fz-img', mac: '02:00:00:00:f0:05', image: '../../etc' }),
      ];
      const body = Buffer.from(rng.pick(bodies));
      const ct = rng.pick(['application/json', 'text/plain', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x', '']);
      return {
        kind: 'api-body',
        chunks: [request('POST', '/api/nodes', [host, auth, ['Content-Type', ct], ['Content-Length', String(body.length)], close], body)],
      };
    }
    default: {
      const a = rng.pick([
        `Bearer ${t.token}`,
        'Bearer',
        'Bearer ',
        `bearer  ${t.token}`,
        `Bearer ${t.token}x`,
        `Basic ${Buffer.from('a:b').toString('base64')}`,
        `Bearer ${'a'.repeat(10_000)}`,
        'Bearer \u00ff',
        '',
      ]);
      return {
        kind: 'auth',
        chunks: [request('GET', rng.pick(['/api/nodes', '/api/events', '/api/inventory', `/api/nodes/${t.node}`]), [host, ['Authorization', a], close])],
      };
    }
  }
}
