import { BOOTREPLY, type DhcpPacket } from './codec.js';
import { MSG, OPT, ipOption, pxeVendorOptions, u32Option } from './options.js';

// Builds the answer to a client kiln has decided to serve. Pure.

export interface LeaseInfo {
  ip: string;
  mask: string;
  router?: string;
  dns?: string[];
  seconds: number;
}

export interface ReplyOptions {
  type: typeof MSG.OFFER | typeof MSG.ACK | typeof MSG.NAK;
  serverIp: string;
  /** PXE boot-menu string for option 43 (Pi clients). */
  menu: string;
  /** Whether the client is a PXE client (option 60 `PXEClient…`); others get no 43/60. */
  pxe?: boolean;
  /** Full mode only; a proxy reply carries no address. */
  lease?: LeaseInfo;
}

export function buildReply(req: DhcpPacket, o: ReplyOptions): DhcpPacket {
  const options = new Map<number, Buffer>();
  options.set(OPT.messageType, Buffer.from([o.type]));
  // The Pi takes the TFTP server from option 54 (dnsmasq's proxy sends neither siaddr nor 66).
  options.set(OPT.serverId, ipOption(o.serverIp));
  if (o.type !== MSG.NAK) {
    if (o.lease) {
      options.set(OPT.leaseTime, u32Option(o.lease.seconds));
      options.set(OPT.renewalTime, u32Option(Math.floor(o.lease.seconds / 2)));
      options.set(OPT.rebindingTime, u32Option(Math.floor((o.lease.seconds * 7) / 8)));
      options.set(OPT.subnetMask, ipOption(o.lease.mask));
      if (o.lease.router) options.set(OPT.router, ipOption(o.lease.router));
      if (o.lease.dns?.length) options.set(OPT.dns, Buffer.concat(o.lease.dns.map(ipOption)));
      // U-Boot and other non-Pi clients look for the TFTP server here.
      options.set(OPT.tftpServerName, Buffer.from(o.serverIp, 'latin1'));
    }
    if (o.pxe ?? true) {
      options.set(OPT.vendorClass, Buffer.from('PXEClient', 'latin1'));
      const guid = req.options.get(OPT.clientGuid);
      if (guid) options.set(OPT.clientGuid, guid);
      options.set(OPT.vendorSpecific, pxeVendorOptions(o.menu));
    }
  }
  return {
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    // Clients without an address cannot receive unicast: always ask for broadcast delivery.
    flags: 0x8000,
    ciaddr: o.type === MSG.ACK ? req.ciaddr : '0.0.0.0',
    yiaddr: o.lease && o.type !== MSG.NAK ? o.lease.ip : '0.0.0.0',
    siaddr: o.lease && o.type !== MSG.NAK ? o.serverIp : '0.0.0.0',
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    sname: '',
    file: '',
    options,
  };
}
