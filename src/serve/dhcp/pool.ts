// Address pool for full mode (an isolated provisioning network). Offers are held briefly so that
// ten Pis discovering at once never get the same address. Pure apart from the injected clock.

import { KilnError } from '../../util/errors.js';

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

interface Lease {
  ip: number;
  expires: number;
}

export class LeasePool {
  private readonly byMac = new Map<string, Lease>();
  private readonly start: number;
  private readonly end: number;

  constructor(
    start: string,
    end: string,
    private readonly leaseSeconds: number,
    private readonly exclude: string[] = [],
    private readonly now: () => number = Date.now,
    private readonly offerHoldSeconds = 60,
  ) {
    this.start = ipToInt(start);
    this.end = ipToInt(end);
    if (this.end < this.start) throw new KilnError(`DHCP pool ${start}-${end} is empty`);
  }

  private owner(ip: number): string | undefined {
    const t = this.now();
    for (const [mac, l] of this.byMac) if (l.ip === ip && l.expires > t) return mac;
    return undefined;
  }

  private usable(ip: number, mac: string): boolean {
    if (ip < this.start || ip > this.end) return false;
    if (this.exclude.some((e) => ipToInt(e) === ip)) return false;
    const o = this.owner(ip);
    return o === undefined || o === mac;
  }

  /** An address to offer: the client's current one, the one it asks for, or the first free. */
  offer(mac: string, requested?: string): string | undefined {
    const t = this.now();
    const cur = this.byMac.get(mac);
    let ip: number | undefined;
    if (cur && this.usable(cur.ip, mac)) ip = cur.ip;
    else if (requested && this.usable(ipToInt(requested), mac)) ip = ipToInt(requested);
    else {
      for (let c = this.start; c <= this.end; c++) {
        if (this.usable(c, mac)) {
          ip = c;
          break;
        }
      }
    }
    if (ip === undefined) return undefined;
    const hold = t + this.offerHoldSeconds * 1000;
    this.byMac.set(mac, { ip, expires: Math.max(cur?.ip === ip ? cur.expires : 0, hold) });
    return intToIp(ip);
  }

  /** Confirms a REQUEST; false means NAK. */
  commit(mac: string, ip: string): boolean {
    const n = ipToInt(ip);
    if (!this.usable(n, mac)) return false;
    this.byMac.set(mac, { ip: n, expires: this.now() + this.leaseSeconds * 1000 });
    return true;
  }

  release(mac: string): void {
    this.byMac.delete(mac);
  }

  leaseOf(mac: string): string | undefined {
    const l = this.byMac.get(mac);
    return l && l.expires > this.now() ? intToIp(l.ip) : undefined;
  }
}
