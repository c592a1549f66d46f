import { describe, expect, it } from 'vitest';
import { parseDhcp, serializeDhcp, type DhcpPacket } from '../../../src/serve/dhcp/codec.js';
import { MSG, OPT, encodePiGuid, pxeVendorOptions } from '../../../src/serve/dhcp/options.js';
import { LeasePool } from '../../../src/serve/dhcp/pool.js';
import { buildReply } from '../../../src/serve/dhcp/reply.js';
import { bootRequest } from '../../helpers/dhcp.js';

const guid = encodePiGuid('RPi4', 0x00c03111, 'dc:a6:32:01:02:03', '1234abcd');
const req: DhcpPacket = bootRequest({
  mac: 'dc:a6:32:01:02:03',
  xid: 77,
  options: new Map([
    [OPT.messageType, Buffer.from([MSG.DISCOVER])],
    [OPT.clientGuid, guid],
  ]),
});

describe('buildReply', () => {
  it('proxy OFFER matches the dnsmasq reference: no address, 53/54/60/97/43', () => {
    const r = parseDhcp(serializeDhcp(buildReply(req, { type: MSG.OFFER, serverIp: '10.0.0.2', menu: 'Raspberry Pi Boot' })));
    expect(r.op).toBe(2);
    expect(r.xid).toBe(77);
    expect(r.yiaddr).toBe('0.0.0.0');
    expect(r.siaddr).toBe('0.0.0.0');
    expect([...r.options.keys()].sort((a, b) => a - b)).toEqual([43, 53, 54, 60, 97]);
    expect(r.options.get(OPT.serverId)).toEqual(Buffer.from([10, 0, 0, 2]));
    expect(r.options.get(OPT.vendorClass)?.toString()).toBe('PXEClient');
    expect(r.options.get(OPT.clientGuid)).toEqual(guid);
    expect(r.options.get(OPT.vendorSpecific)).toEqual(pxeVendorOptions('Raspberry Pi Boot'));
    expect(r.flags & 0x8000).toBe(0x8000);
  });
  it('full ACK carries the lease and the TFTP server', () => {
    const r = buildReply(req, {
      type: MSG.ACK,
      serverIp: '10.0.0.2',
      menu: 'Raspberry Pi Boot',
      lease: { ip: '10.0.0.50', mask: '255.255.255.0', router: '10.0.0.1', seconds: 600 },
    });
    expect(r.yiaddr).toBe('10.0.0.50');
    expect(r.siaddr).toBe('10.0.0.2');
    expect(r.options.get(OPT.tftpServerName)?.toString()).toBe('10.0.0.2');
    expect(r.options.get(OPT.leaseTime)?.readUInt32BE(0)).toBe(600);
  });
  it('NAK carries no boot options', () => {
    const r = buildReply(req, { type: MSG.NAK, serverIp: '10.0.0.2', menu: 'x' });
    expect([...r.options.keys()].sort()).toEqual([53, 54]);
  });
});

describe('LeasePool', () => {
  it('gives ten simultaneous clients ten different addresses and keeps them', () => {
    let t = 0;
    const pool = new LeasePool('10.0.0.100', '10.0.0.119', 600, ['10.0.0.100'], () => t);
    const ips = Array.from({ length: 10 }, (_, i) => pool.offer(`dc:a6:32:00:00:${i.toString(16).padStart(2, '0')}`));
    expect(new Set(ips).size).toBe(10);
    expect(ips).not.toContain('10.0.0.100');
    expect(pool.commit('dc:a6:32:00:00:00', ips[0] ?? '')).toBe(true);
    expect(pool.commit('dc:a6:32:00:00:01', ips[0] ?? '')).toBe(false);
    expect(pool.offer('dc:a6:32:00:00:00')).toBe(ips[0]);
    t += 601_000;
    expect(pool.leaseOf('dc:a6:32:00:00:00')).toBeUndefined();
  });
  it('runs out cleanly', () => {
    const pool = new LeasePool('10.0.0.100', '10.0.0.101', 600);
    expect(pool.offer('a')).toBeDefined();
    expect(pool.offer('b')).toBeDefined();
    expect(pool.offer('c')).toBeUndefined();
  });
});
