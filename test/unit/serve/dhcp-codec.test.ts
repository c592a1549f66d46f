import { describe, expect, it } from 'vitest';
import { DhcpParseError, parseDhcp, serializeDhcp, macOf, type DhcpPacket } from '../../../src/serve/dhcp/codec.js';
import { OPT, MSG, decodePiGuid, encodePiGuid, pxeVendorOptions, clientArches, messageType, vendorClass } from '../../../src/serve/dhcp/options.js';
import { bootRequest } from '../../helpers/dhcp.js';

function piDiscover(): DhcpPacket {
  return bootRequest({
    mac: 'dc:a6:32:01:02:03',
    xid: 0x26f30339,
    options: new Map([
      [OPT.messageType, Buffer.from([MSG.DISCOVER])],
      [OPT.vendorClass, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
      [OPT.clientArch, Buffer.from([0, 0])],
      [OPT.clientGuid, encodePiGuid('RPi4', 0x00c03111, 'dc:a6:32:01:02:03', '1234abcd')],
    ]),
  });
}

describe('DHCP codec', () => {
  it('round-trips a Pi 4 DISCOVER', () => {
    const wire = serializeDhcp(piDiscover());
    expect(wire.length).toBeGreaterThanOrEqual(300);
    const p = parseDhcp(wire);
    expect(macOf(p)).toBe('dc:a6:32:01:02:03');
    expect(p.xid).toBe(0x26f30339);
    expect(messageType(p)).toBe(MSG.DISCOVER);
    expect(vendorClass(p)).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(clientArches(p)).toEqual([0]);
    expect(decodePiGuid(p)).toEqual({ fourcc: 'RPi4', boardRevision: '00c03111', serial: '1234abcd' });
  });

  it('decodes the legacy option 97 (serial repeated)', () => {
    const p = piDiscover();
    const g = Buffer.alloc(17);
    for (let i = 0; i < 4; i++) g.writeUInt32LE(0xdeadbeef, 1 + i * 4);
    p.options.set(OPT.clientGuid, g);
    expect(decodePiGuid(parseDhcp(serializeDhcp(p)))).toEqual({ serial: 'deadbeef' });
  });

  it('splits and reassembles options over 255 bytes (RFC 3396)', () => {
    const p = piDiscover();
    const big = Buffer.alloc(600, 7);
    p.options.set(OPT.vendorSpecific, big);
    expect(parseDhcp(serializeDhcp(p)).options.get(OPT.vendorSpecific)).toEqual(big);
  });

  it('builds option 43 byte-for-byte like dnsmasq', () => {
    const expected = Buffer.concat([
      Buffer.from([0x06, 0x01, 0x03, 0x0a, 0x04, 0x00]),
      Buffer.from('PXE'),
      Buffer.from([0x09, 0x14, 0x00, 0x00, 0x11]),
      Buffer.from('Raspberry Pi Boot'),
      Buffer.from([0xff]),
    ]);
    expect(pxeVendorOptions('Raspberry Pi Boot')).toEqual(expected);
  });

  it('refuses malformed input with a reason', () => {
    const wire = serializeDhcp(piDiscover());
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(10), /too short/],
      [Buffer.alloc(2000), /too long/],
      [Buffer.concat([Buffer.from([9]), wire.subarray(1)]), /unknown op/],
      [Buffer.concat([wire.subarray(0, 236), Buffer.from([1, 2, 3, 4])]), /magic/],
      // option 60 claims 200 bytes but the datagram ends first
      [Buffer.concat([wire.subarray(0, 240), Buffer.from([60, 200, 1, 2])]), /truncated/],
      [Buffer.concat([wire.subarray(0, 240), Buffer.from([53, 1, 1])]), /not terminated/],
      [Buffer.concat([wire.subarray(0, 240), Buffer.from([53])]), /truncated/],
    ];
    for (const [buf, re] of cases) {
      expect(() => parseDhcp(buf)).toThrow(DhcpParseError);
      expect(() => parseDhcp(buf)).toThrow(re);
    }
  });

  it('never throws anything but DhcpParseError on random bytes', () => {
    let seed = 42;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % 256;
    };
    const base = serializeDhcp(piDiscover());
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(base);
      for (let j = 0; j < 8; j++) b[240 + (rnd() % (b.length - 240))] = rnd();
      const cut = b.subarray(0, 240 + (rnd() % (b.length - 240)));
      try {
        parseDhcp(cut);
      } catch (err) {
        expect(err).toBeInstanceOf(DhcpParseError);
      }
    }
  });
});
