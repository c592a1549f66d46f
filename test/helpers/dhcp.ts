import type { DhcpPacket } from '../../src/serve/dhcp/codec.js';

/**
 * A client's BOOTREQUEST from `mac`, before it has any address, carrying `options` (in that
 * order on the wire). `broadcast` sets the flag a client without an address needs for the
 * answer to reach it.
 */
export function bootRequest(r: { mac: string; xid: number; options: Map<number, Buffer>; broadcast?: boolean }): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: r.xid,
    secs: 0,
    flags: r.broadcast ? 0x8000 : 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.from(r.mac.replaceAll(':', ''), 'hex'),
    sname: '',
    file: '',
    options: r.options,
  };
}
