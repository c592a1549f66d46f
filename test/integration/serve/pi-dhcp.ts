import { createSocket, type Socket } from 'node:dgram';
import { parseDhcp, serializeDhcp, type DhcpPacket } from '../../../src/serve/dhcp/codec.js';
import { MSG, OPT, encodePiGuid, serverId } from '../../../src/serve/dhcp/options.js';
import { bootRequest } from '../../helpers/dhcp.js';

// What a Raspberry Pi 4 bootloader sends (built with kiln's own codec), and a client socket on
// port 68 that many simulated Pis share, matching answers to requests by xid.

export const PI_VENDOR_CLASS = 'PXEClient:Arch:00000:UNDI:002001';

export interface PiIdentity {
  mac: string;
  serial: string;
}

export interface PiDiscoverVariant {
  /** option 60 (default the Pi's, PI_VENDOR_CLASS): a non-PXE client sends its own */
  vendorClass?: string;
  /** only options 53, 97 and 60: a forged DISCOVER, without the Pi's 93, 94 and 55 */
  minimal?: boolean;
  /** option 97's FourCC and board revision code (default a Pi 4 Model B 4GB: `RPi4`, 0x00c03111) */
  board?: { fourcc: string; revision: number };
  /** a running system's DISCOVER (dhcpcd, networkd): no PXE options 93, 94 and 97 */
  os?: boolean;
}

function piOptions(pi: PiIdentity, type: number, v: PiDiscoverVariant = {}): Map<number, Buffer> {
  const options = new Map([
    [OPT.messageType, Buffer.from([type])],
    [OPT.clientArch, Buffer.from([0, 0])],
    [OPT.clientNdi, Buffer.from([1, 2, 1])],
    [OPT.clientGuid, encodePiGuid(v.board?.fourcc ?? 'RPi4', v.board?.revision ?? 0x00c03111, pi.mac, pi.serial)],
    [OPT.vendorClass, Buffer.from(v.vendorClass ?? PI_VENDOR_CLASS)],
    [OPT.paramRequestList, Buffer.from([1, 3, 43, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135])],
  ]);
  if (v.minimal) for (const o of [OPT.clientArch, OPT.clientNdi, OPT.paramRequestList]) options.delete(o);
  if (v.os) for (const o of [OPT.clientArch, OPT.clientNdi, OPT.clientGuid]) options.delete(o);
  return options;
}

function header(pi: PiIdentity, xid: number, options: Map<number, Buffer>): DhcpPacket {
  return bootRequest({ mac: pi.mac, xid, options, broadcast: true });
}

/** The Pi's DISCOVER (a variant of it with `v`). */
export function piDiscover(pi: PiIdentity, xid: number, v: PiDiscoverVariant = {}): Buffer {
  return serializeDhcp(header(pi, xid, piOptions(pi, MSG.DISCOVER, v)));
}

export function piRequest(pi: PiIdentity, xid: number, ip: string, server: string): Buffer {
  const options = piOptions(pi, MSG.REQUEST);
  options.set(OPT.requestedIp, Buffer.from(ip.split('.').map(Number)));
  options.set(OPT.serverId, Buffer.from(server.split('.').map(Number)));
  return serializeDhcp(header(pi, xid, options));
}

export interface DhcpAnswer {
  type: number;
  yiaddr: string;
  siaddr: string;
  serverId: string | undefined;
  vendorClass: string | undefined;
  /** hex of options 43 and 97 */
  vendorSpecific: string | undefined;
  clientGuid: string | undefined;
  tftpServer: string | undefined;
  mask: string | undefined;
}

function summarize(p: DhcpPacket): DhcpAnswer {
  return {
    type: p.options.get(OPT.messageType)?.[0] ?? 0,
    yiaddr: p.yiaddr,
    siaddr: p.siaddr,
    serverId: serverId(p),
    vendorClass: p.options.get(OPT.vendorClass)?.toString('latin1'),
    vendorSpecific: p.options.get(OPT.vendorSpecific)?.toString('hex'),
    clientGuid: p.options.get(OPT.clientGuid)?.toString('hex'),
    tftpServer: p.options.get(OPT.tftpServerName)?.toString('latin1'),
    mask: (() => {
      const m = p.options.get(OPT.subnetMask);
      return m && m.length === 4 ? [...m].join('.') : undefined;
    })(),
  };
}

/** One port-68 socket for many simulated clients: send, then wait for the answer with that xid. */
export class DhcpClientPort {
  private sock: Socket | undefined;
  private readonly waiters = new Map<number, { accept: (a: DhcpAnswer) => boolean; done: (a: DhcpAnswer) => void }>();
  /** Datagrams received that were not kiln's answers to a pending xid (fuzz runs count them). */
  other = 0;
  /** Sends the kernel refused (e.g. no route for a broadcast): a fuzz run that sent nothing proves nothing. */
  sendErrors = 0;

  async open(): Promise<void> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (m) => {
      let p: DhcpPacket;
      try {
        p = parseDhcp(m);
      } catch {
        this.other++;
        return;
      }
      const w = p.op === 2 ? this.waiters.get(p.xid) : undefined;
      const a = w ? summarize(p) : undefined;
      if (!w || !a || !w.accept(a)) {
        this.other++;
        return;
      }
      this.waiters.delete(p.xid);
      w.done(a);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(68, '0.0.0.0', () => {
        s.off('error', reject);
        s.setBroadcast(true);
        resolve();
      });
    });
    this.sock = s;
  }

  send(buf: Buffer, to = '255.255.255.255', port = 67): Promise<void> {
    const s = this.sock;
    if (!s) throw new Error('DHCP client port not open');
    return new Promise((resolve) =>
      s.send(buf, port, to, (err) => {
        if (err) this.sendErrors++;
        resolve();
      }),
    );
  }

  /**
   * Sends `packet` and waits `timeoutMs` for the answer with `xid`, `tries` times in all (a Pi
   * repeats its DISCOVER on silence). Undefined if none came. `types`: the message types that
   * answer it; others with the xid are ignored, as a client in REQUESTING ignores the late OFFER
   * to a DISCOVER it had to repeat (RFC 2131 4.4.1). Default: any.
   */
  async exchange(
    packet: Buffer,
    xid: number,
    timeoutMs: number,
    tries: number,
    types?: readonly number[],
  ): Promise<{ answer: DhcpAnswer | undefined; sent: number }> {
    for (let i = 1; i <= tries; i++) {
      const got = new Promise<DhcpAnswer | undefined>((resolve) => {
        const t = setTimeout(() => {
          this.waiters.delete(xid);
          resolve(undefined);
        }, timeoutMs);
        this.waiters.set(xid, {
          accept: (a) => types === undefined || types.includes(a.type),
          done: (a) => {
            clearTimeout(t);
            resolve(a);
          },
        });
      });
      await this.send(packet);
      const a = await got;
      if (a) return { answer: a, sent: i };
    }
    return { answer: undefined, sent: tries };
  }

  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }
}
