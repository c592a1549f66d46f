// BOOTP/DHCP wire format (RFC 2131/2132). Pure: bytes in, typed packet out and back. The socket
// server and the reply logic live elsewhere so this can be tested without a network.

import { KilnError } from '../../util/errors.js';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC = 0x63825363;
const FIXED_LEN = 236;
export const MIN_PACKET_LEN = FIXED_LEN + 4;
/** Large enough for any sane client; a bigger datagram is refused before parsing. */
export const MAX_PACKET_LEN = 1500;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, `hlen` bytes. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Options in wire order; a code sent more than once is concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

export class DhcpParseError extends KilnError {
  constructor(readonly reason: string) {
    super(`malformed DHCP packet: ${reason}`);
  }
}

function ipAt(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

export function ipToBytes(ip: string): Buffer {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new KilnError(`not an IPv4 address: ${ip}`);
  const out = Buffer.alloc(4);
  parts.forEach((p, i) => {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) throw new KilnError(`not an IPv4 address: ${ip}`);
    out[i] = n;
  });
  return out;
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end === -1 ? buf.length : end).toString('latin1');
}

export function parseDhcp(buf: Buffer): DhcpPacket {
  if (buf.length < MIN_PACKET_LEN) throw new DhcpParseError(`too short (${buf.length} bytes)`);
  if (buf.length > MAX_PACKET_LEN) throw new DhcpParseError(`too long (${buf.length} bytes)`);
  const op = buf.readUInt8(0);
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DhcpParseError(`unknown op ${op}`);
  const hlen = buf.readUInt8(2);
  if (hlen > 16) throw new DhcpParseError(`hlen ${hlen} > 16`);
  if (buf.readUInt32BE(FIXED_LEN) !== MAGIC) throw new DhcpParseError('no DHCP magic cookie');
  const options = new Map<number, Buffer>();
  let off = MIN_PACKET_LEN;
  let ended = false;
  while (off < buf.length) {
    const code = buf.readUInt8(off);
    if (code === 0) {
      off += 1;
      continue;
    }
    if (code === 255) {
      ended = true;
      break;
    }
    if (off + 1 >= buf.length) throw new DhcpParseError(`option ${code} truncated (no length)`);
    const len = buf.readUInt8(off + 1);
    if (off + 2 + len > buf.length) throw new DhcpParseError(`option ${code} truncated (length ${len})`);
    const value = Buffer.from(buf.subarray(off + 2, off + 2 + len));
    const prev = options.get(code);
    options.set(code, prev ? Buffer.concat([prev, value]) : value);
    off += 2 + len;
  }
  if (!ended) throw new DhcpParseError('options not terminated by END');
  return {
    op,
    htype: buf.readUInt8(1),
    hlen,
    hops: buf.readUInt8(3),
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipAt(buf, 12),
    yiaddr: ipAt(buf, 16),
    siaddr: ipAt(buf, 20),
    giaddr: ipAt(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 28 + hlen)),
    sname: cString(buf.subarray(44, 108)),
    file: cString(buf.subarray(108, 236)),
    options,
  };
}

function writeFixedString(out: Buffer, off: number, size: number, s: string, field: string): void {
  const bytes = Buffer.from(s, 'latin1');
  if (bytes.length >= size) throw new KilnError(`DHCP ${field} longer than ${size - 1} bytes`);
  bytes.copy(out, off);
}

/** Serializes a packet; options longer than 255 bytes are split into repeated codes (RFC 3396). */
export function serializeDhcp(p: DhcpPacket): Buffer {
  const head = Buffer.alloc(MIN_PACKET_LEN);
  head.writeUInt8(p.op, 0);
  head.writeUInt8(p.htype, 1);
  head.writeUInt8(p.hlen, 2);
  head.writeUInt8(p.hops, 3);
  head.writeUInt32BE(p.xid >>> 0, 4);
  head.writeUInt16BE(p.secs, 8);
  head.writeUInt16BE(p.flags, 10);
  ipToBytes(p.ciaddr).copy(head, 12);
  ipToBytes(p.yiaddr).copy(head, 16);
  ipToBytes(p.siaddr).copy(head, 20);
  ipToBytes(p.giaddr).copy(head, 24);
  p.chaddr.subarray(0, 16).copy(head, 28);
  writeFixedString(head, 44, 64, p.sname, 'sname');
  writeFixedString(head, 108, 128, p.file, 'file');
  head.writeUInt32BE(MAGIC, FIXED_LEN);
  const parts: Buffer[] = [head];
  for (const [code, value] of p.options) {
    if (code === 0 || code === 255) continue;
    for (let i = 0; i === 0 || i < value.length; i += 255) {
      const chunk = value.subarray(i, i + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  parts.push(Buffer.from([255]));
  const out = Buffer.concat(parts);
  // Some old clients drop replies shorter than a BOOTP packet (300 bytes); pad like most servers.
  return out.length < 300 ? Buffer.concat([out, Buffer.alloc(300 - out.length)]) : out;
}

export function macOf(p: DhcpPacket): string {
  return [...p.chaddr.subarray(0, p.hlen)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
