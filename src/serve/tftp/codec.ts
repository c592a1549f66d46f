// TFTP packets (RFC 1350) and option negotiation (RFC 2347/2348/2349/7440). Pure: no sockets, no
// clock. Every input, however short or mangled, gives a result value; nothing here throws on bytes
// that came off the wire.

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export const ERR = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS: 2,
  DISK_FULL: 3,
  ILLEGAL_OP: 4,
  UNKNOWN_TID: 5,
  EXISTS: 6,
  NO_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** RFC 2347: a request, options included, must fit in 512 octets. */
export const MAX_REQUEST = 512;
export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
export const WINDOW_MAX = 65535;

/**
 * All three modes are accepted and all are answered with the file's bytes as they are (octet):
 * what kiln serves is firmware, kernels and text its clients read as bytes; a netascii CR/LF
 * rewrite would corrupt the binaries and change the sizes already promised by tsize, and `mail`
 * (obsolete, write-only in RFC 1350) never reaches a read-only server's files anyway.
 */
export type Mode = 'netascii' | 'octet' | 'mail';

export interface RequestOption {
  /** As the client spelled it: the OACK echoes it back unchanged. */
  name: string;
  /** Lower-cased: option names are case-insensitive (RFC 2347). */
  key: string;
  value: string;
}

export type Packet =
  | { op: 'rrq' | 'wrq'; filename: string; mode: Mode; options: RequestOption[] }
  | { op: 'data'; block: number; data: Buffer }
  | { op: 'ack'; block: number }
  | { op: 'error'; code: number; message: string }
  | { op: 'oack'; options: RequestOption[] };

export type ParseFailure = { ok: false; reason: 'malformed' | 'bad-opcode'; detail: string };
export type ParseResult = { ok: true; packet: Packet } | ParseFailure;

const bad = (detail: string): ParseFailure => ({ ok: false, reason: 'malformed', detail });

export function parsePacket(msg: Uint8Array): ParseResult {
  if (msg.length < 2) return bad(`length ${msg.length}`);
  const op = u16(msg, 0);
  switch (op) {
    case OP.RRQ:
    case OP.WRQ:
      return parseRequest(msg, op === OP.RRQ ? 'rrq' : 'wrq');
    case OP.DATA:
      if (msg.length < 4) return bad(`DATA of ${msg.length} bytes`);
      return { ok: true, packet: { op: 'data', block: u16(msg, 2), data: Buffer.from(msg.buffer, msg.byteOffset + 4, msg.length - 4) } };
    case OP.ACK:
      // Trailing bytes are tolerated (as tftpd-hpa does): the block number is all an ACK carries.
      if (msg.length < 4) return bad(`ACK of ${msg.length} bytes`);
      return { ok: true, packet: { op: 'ack', block: u16(msg, 2) } };
    case OP.ERROR: {
      if (msg.length < 4) return bad(`ERROR of ${msg.length} bytes`);
      // Clients that forget the terminating NUL still mean to end the transfer: take what is there.
      const end = msg.indexOf(0, 4);
      const message = latin1(msg, 4, end === -1 ? msg.length : end);
      return { ok: true, packet: { op: 'error', code: u16(msg, 2), message } };
    }
    case OP.OACK: {
      const options = parseOptions(msg, 2);
      if (!Array.isArray(options)) return options;
      return { ok: true, packet: { op: 'oack', options } };
    }
    default:
      return { ok: false, reason: 'bad-opcode', detail: `opcode ${op}` };
  }
}

function parseRequest(msg: Uint8Array, op: 'rrq' | 'wrq'): ParseResult {
  if (msg.length > MAX_REQUEST) return bad(`request of ${msg.length} bytes`);
  const nameEnd = msg.indexOf(0, 2);
  if (nameEnd === -1) return bad('filename not terminated');
  if (nameEnd === 2) return bad('empty filename');
  if (msg.subarray(2, nameEnd).some((c) => c > 0x7f)) return bad('non-ASCII filename');
  const modeEnd = msg.indexOf(0, nameEnd + 1);
  if (modeEnd === -1) return bad('mode not terminated');
  const mode = latin1(msg, nameEnd + 1, modeEnd).toLowerCase();
  if (mode !== 'octet' && mode !== 'netascii' && mode !== 'mail') return bad(`mode ${mode.slice(0, 16)}`);
  const options = parseOptions(msg, modeEnd + 1);
  if (!Array.isArray(options)) return options;
  return { ok: true, packet: { op, filename: latin1(msg, 2, nameEnd), mode, options } };
}

/** NUL-terminated name/value pairs up to the end of the datagram. */
function parseOptions(msg: Uint8Array, from: number): RequestOption[] | ParseFailure {
  const out: RequestOption[] = [];
  let at = from;
  while (at < msg.length) {
    const nameEnd = msg.indexOf(0, at);
    if (nameEnd === -1) return bad('option name not terminated');
    // Some clients pad requests with NULs: an empty name ends the list.
    if (nameEnd === at) break;
    const valueEnd = msg.indexOf(0, nameEnd + 1);
    if (valueEnd === -1) return bad('option value missing or not terminated');
    const name = latin1(msg, at, nameEnd);
    out.push({ name, key: name.toLowerCase(), value: latin1(msg, nameEnd + 1, valueEnd) });
    at = valueEnd + 1;
  }
  return out;
}

/** Big-endian; every caller has checked the length first, so a missing byte is a bug here. */
function u16(b: Uint8Array, at: number): number {
  const hi = b[at];
  const lo = b[at + 1];
  if (hi === undefined || lo === undefined) throw new RangeError(`internal: 16-bit field at byte ${at} of a ${b.length}-byte packet`);
  return (hi << 8) | lo;
}

function latin1(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1');
}

// ---------------------------------------------------------------------------------------------
// Serialization

export function encodeRequest(op: 'rrq' | 'wrq', filename: string, mode: Mode | string, options: readonly (readonly [string, string])[] = []): Buffer {
  const strings = [filename, mode, ...options.flat()];
  return Buffer.concat([Buffer.from([0, op === 'rrq' ? OP.RRQ : OP.WRQ]), Buffer.from(strings.map((s) => `${s}\0`).join(''), 'latin1')]);
}

export function encodeData(block: number, data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + data.length);
  writeDataHeader(b, 0, block);
  b.set(data, 4);
  return b;
}

/** Writes a DATA header in place, so a send buffer can be reused without copying the payload. */
export function writeDataHeader(buf: Buffer, at: number, block: number): void {
  buf[at] = 0;
  buf[at + 1] = OP.DATA;
  buf[at + 2] = (block >> 8) & 0xff;
  buf[at + 3] = block & 0xff;
}

export function encodeAck(block: number): Buffer {
  return Buffer.from([0, OP.ACK, (block >> 8) & 0xff, block & 0xff]);
}

export function encodeError(code: number, message: string): Buffer {
  const text = Buffer.from(`${message}\0`, 'latin1');
  const b = Buffer.allocUnsafe(4 + text.length);
  b.writeUInt16BE(OP.ERROR, 0);
  b.writeUInt16BE(code & 0xffff, 2);
  text.copy(b, 4);
  return b;
}

export function encodeOack(options: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat([Buffer.from([0, OP.OACK]), Buffer.from(options.map(([n, v]) => `${n}\0${v}\0`).join(''), 'latin1')]);
}

// ---------------------------------------------------------------------------------------------
// Option negotiation

export interface Limits {
  /** Largest blksize granted; larger requests are clamped to it (RFC 2348 lets the server lower it). */
  maxBlockSize: number;
  /** Largest windowsize granted (RFC 7440 likewise). */
  maxWindowSize: number;
  /** Size of the file being read, answered to `tsize` (RFC 2349). */
  size: number;
}

export interface Negotiated {
  blockSize: number;
  windowSize: number;
  /** Retransmission timeout the client asked for, in ms; undefined: the server's own. */
  timeoutMs?: number;
  /** The OACK's pairs; empty: no option accepted, so the transfer runs as plain RFC 1350. */
  accepted: [string, string][];
}

const DECIMAL = /^[0-9]{1,10}$/;

/**
 * What a read request gets. Unknown options and options whose values are out of range or not
 * numbers are left out of the OACK rather than failing the request (RFC 2347 lets a server ignore
 * any option); the first occurrence of a repeated option wins.
 */
export function negotiate(options: readonly RequestOption[], limits: Limits): Negotiated {
  const out: Negotiated = { blockSize: 512, windowSize: 1, accepted: [] };
  const seen = new Set<string>();
  for (const o of options) {
    if (seen.has(o.key)) continue;
    seen.add(o.key);
    if (!DECIMAL.test(o.value)) continue;
    const v = Number(o.value);
    if (o.key === 'blksize') {
      if (v < BLKSIZE_MIN || v > BLKSIZE_MAX) continue;
      out.blockSize = Math.max(BLKSIZE_MIN, Math.min(v, limits.maxBlockSize));
      out.accepted.push([o.name, String(out.blockSize)]);
    } else if (o.key === 'tsize') {
      out.accepted.push([o.name, String(limits.size)]);
    } else if (o.key === 'timeout') {
      if (v < 1 || v > 255) continue;
      // RFC 2349: the server must echo the value unchanged if it accepts it.
      out.timeoutMs = v * 1000;
      out.accepted.push([o.name, String(v)]);
    } else if (o.key === 'windowsize') {
      if (v < 1 || v > WINDOW_MAX) continue;
      out.windowSize = Math.max(1, Math.min(v, limits.maxWindowSize));
      out.accepted.push([o.name, String(out.windowSize)]);
    }
  }
  return out;
}
