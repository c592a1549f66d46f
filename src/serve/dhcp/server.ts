import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { log } from '../../util/log.js';
import { claimsOtherMac, decideDhcp, isPxeClient, type DhcpClient, type DhcpMode } from '../plan/dhcp.js';
import type { ServeLookup } from '../lookup.js';
import type { ServeMetrics } from '../metrics.js';
import type { NodeRecord } from '../nodes/model.js';
import type { NodeRegistry } from '../nodes/registry.js';
import { RateLog } from '../ratelog.js';
import { BOOTREQUEST, DhcpParseError, macOf, parseDhcp, serializeDhcp, type DhcpPacket } from './codec.js';
import { MSG, decodePiGuid, messageType, requestedIp, serverId, vendorClass } from './options.js';
import type { LeasePool } from './pool.js';
import { buildReply, type LeaseInfo } from './reply.js';

// The DHCP socket server: parse, decide (pure, plan/dhcp.ts), answer. Proxy mode answers only PXE
// clients kiln is to serve, with no address; full mode also leases addresses from a small pool.

export interface DhcpServerOptions {
  mode: DhcpMode;
  /** Address the replies name as server (option 54); TFTP and HTTP must be reachable there. */
  serverIp: string;
  port?: number;
  /** Where replies go; clients listen on 68. */
  clientPort?: number;
  bindAddress?: string;
  discovery: boolean;
  registry: NodeRegistry;
  lookup: ServeLookup;
  metrics: ServeMetrics;
  pool?: { leases: LeasePool; mask: string; router?: string; dns?: string[]; leaseSeconds: number };
}

export class DhcpServer {
  private socket: Socket | undefined;
  /**
   * Replies leave from a socket bound to the server address: Linux then sends the limited broadcast
   * out of that address's interface, with no route needed and never out of another interface.
   * It also receives unicast renewals addressed to the server.
   */
  private sender: Socket | undefined;
  private readonly rate = new RateLog();
  /** The discovery limit is logged once when reached, again only after it cleared. */
  private discoveryFullLogged = false;

  constructor(private readonly o: DhcpServerOptions) {
    if (o.mode === 'full' && !o.pool) throw new Error('full DHCP mode needs an address pool');
  }

  async start(): Promise<void> {
    this.socket = await this.open(this.o.bindAddress ?? '0.0.0.0');
    this.sender = await this.open(this.o.serverIp);
  }

  private open(address: string): Promise<Socket> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (msg, rinfo) => {
      try {
        this.onMessage(msg, rinfo);
      } catch (err) {
        // A bug must cost one packet, not the service.
        this.drop('internal', { err: (err as Error).message });
      }
    });
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.o.port ?? 67, address, () => {
        s.off('error', reject);
        s.on('error', (err) => log.warn({ err: err.message }, 'dhcp: socket error'));
        s.setBroadcast(true);
        resolve(s);
      });
    });
  }

  async stop(): Promise<void> {
    const all = [this.socket, this.sender];
    this.socket = undefined;
    this.sender = undefined;
    await Promise.all(all.map((s) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()))));
  }

  private drop(reason: string, fields: Record<string, unknown> = {}): void {
    this.o.metrics.dhcpDrops.inc({ reason });
    this.rate.info(`dhcp:${reason}`, { reason, ...fields }, 'dhcp: not answered');
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    let p: DhcpPacket;
    try {
      p = parseDhcp(msg);
    } catch (err) {
      if (err instanceof DhcpParseError) return this.drop('malformed', { from: rinfo.address, why: err.reason });
      throw err;
    }
    if (p.op !== BOOTREQUEST) return this.drop('not-a-request');
    const type = messageType(p);
    if (type === MSG.RELEASE) {
      this.o.pool?.leases.release(macOf(p));
      return;
    }
    if (type !== MSG.DISCOVER && type !== MSG.REQUEST) return this.drop('unsupported-type', { type });
    if (p.htype !== 1 || p.hlen !== 6) return this.drop('not-ethernet');

    const guid = decodePiGuid(p);
    const client: DhcpClient = { mac: macOf(p), serial: guid?.serial, fourcc: guid?.fourcc, vendorClass: vendorClass(p) };
    const { registry, lookup } = this.o;
    const node = registry.find(client.mac, client.serial);
    const decision = decideDhcp(
      node,
      client,
      node ? lookup.imageOf(node) : undefined,
      { mode: this.o.mode, discovery: this.o.discovery },
      node && node.plan === 'local' ? registry.decisionHistory(node.name) : [],
    );
    if (node && type === MSG.DISCOVER && node.plan !== 'discovered' && !claimsOtherMac(node, client)) {
      this.activity(node.name, 'dhcp-seen', { mac: client.mac, vendorClass: client.vendorClass ?? null }, client.mac);
      if (!node.mac || (!node.serial && client.serial)) registry.learnIdentity(node.name, client.mac, client.serial);
    }
    if (decision.action === 'discover') {
      if (type === MSG.DISCOVER) this.discover(client);
      return this.drop('discovered', { mac: client.mac });
    }
    if (decision.action === 'ignore') {
      return this.drop(reasonLabel(decision.reason), { mac: client.mac, why: decision.reason });
    }
    if (decision.action === 'park') {
      registry.park(decision.node.name, decision.reason);
      log.warn({ node: decision.node.name, why: decision.reason }, 'dhcp: node parked');
      return this.drop('parked', { mac: client.mac, why: decision.reason });
    }
    if (decision.action === 'lease') return this.answerFull(p, type, decision.node, decision.menu, false);
    if (decision.action === 'heal') {
      registry.selfHeal(decision.node.name, decision.reason);
      log.warn({ node: decision.node.name, why: decision.reason }, 'dhcp: self-healing: serving the installer');
    }
    const target = decision.node;
    if (this.o.mode === 'proxy') return this.answerProxy(p, type, target, decision.menu);
    return this.answerFull(p, type, target, decision.menu, isPxeClient(client));
  }

  private activity(node: string, type: 'dhcp-seen' | 'dhcp-offered', data: Record<string, unknown>, source: string): void {
    if (this.o.registry.activity(node, type, data, { source }) === 'folded') this.o.metrics.eventsFolded.inc({ type });
  }

  /** Any host can claim to be a new Pi: the registry bounds how many placeholders, and how fast. */
  private discover(client: DhcpClient): void {
    const r = this.o.registry.recordDiscovered(client.mac, client.serial, null);
    if (!('refused' in r)) {
      if (r.created) this.discoveryFullLogged = false;
      return;
    }
    this.o.metrics.discoveryRefused.inc({ reason: r.refused });
    const fields = { mac: client.mac, serial: client.serial ?? null, discovered: r.discovered };
    if (r.refused === 'rate') {
      this.rate.info('dhcp:discovery-rate', fields, 'dhcp: new unknown Pis arrive faster than discovery records them; not recorded');
    } else if (!this.discoveryFullLogged) {
      this.discoveryFullLogged = true;
      log.warn(fields, 'dhcp: discovery limit reached; further unknown Pis are not recorded (register or remove discovered nodes)');
    }
  }

  private answerProxy(p: DhcpPacket, type: number, node: NodeRecord, menu: string): void {
    // The address comes from the router, so the REQUEST is the router's to answer. Acknowledging
    // one that named kiln would hand a client that is not PXE-aware an empty lease.
    if (type !== MSG.DISCOVER) return this.drop('proxy-request');
    this.send(buildReply(p, { type: MSG.OFFER, serverIp: this.o.serverIp, menu }), p);
    this.o.metrics.boots.inc({ mode: 'proxy' });
    this.activity(node.name, 'dhcp-offered', { mode: 'proxy' }, macOf(p));
  }

  private answerFull(p: DhcpPacket, type: number, node: NodeRecord, menu: string, pxe: boolean): void {
    const pool = this.o.pool;
    if (!pool) return;
    const mac = macOf(p);
    const lease = (ip: string): LeaseInfo => ({
      ip,
      mask: pool.mask,
      router: pool.router,
      dns: pool.dns,
      seconds: pool.leaseSeconds,
    });
    if (type === MSG.DISCOVER) {
      const ip = pool.leases.offer(mac, requestedIp(p));
      if (!ip) return this.drop('pool-exhausted', { mac });
      this.send(buildReply(p, { type: MSG.OFFER, serverIp: this.o.serverIp, menu, pxe, lease: lease(ip) }), p);
      return;
    }
    const sid = serverId(p);
    if (sid !== undefined && sid !== this.o.serverIp) {
      pool.leases.release(mac);
      return this.drop('request-for-other-server');
    }
    const want = requestedIp(p) ?? (p.ciaddr !== '0.0.0.0' ? p.ciaddr : undefined);
    if (!want || !pool.leases.commit(mac, want)) {
      this.send(buildReply(p, { type: MSG.NAK, serverIp: this.o.serverIp, menu }), p);
      return this.drop('nak', { mac, requested: want ?? null });
    }
    this.send(buildReply(p, { type: MSG.ACK, serverIp: this.o.serverIp, menu, pxe, lease: lease(want) }), p);
    this.o.metrics.boots.inc({ mode: 'full' });
    this.o.registry.leased(node.name, want);
    this.activity(node.name, 'dhcp-offered', { mode: 'full', ip: want }, mac);
  }

  private send(reply: DhcpPacket, req: DhcpPacket): void {
    const buf = serializeDhcp(reply);
    // Through a relay: back to the relay's server port; otherwise broadcast on the local segment.
    const relayed = req.giaddr !== '0.0.0.0';
    const to = relayed ? req.giaddr : '255.255.255.255';
    const port = relayed ? (this.o.port ?? 67) : (this.o.clientPort ?? 68);
    this.sender?.send(buf, port, to, (err) => {
      if (err) log.warn({ err: err.message, to }, 'dhcp: send failed');
    });
  }
}

function reasonLabel(reason: string): string {
  if (reason.startsWith('plan local')) return 'plan-local';
  if (reason.startsWith('parked')) return 'parked';
  if (reason.startsWith('unknown')) return 'unknown-client';
  if (reason.startsWith('not a PXE')) return 'not-pxe';
  if (reason.startsWith('discovered')) return 'discovered';
  if (reason.startsWith('image')) return 'no-image';
  if (reason.startsWith('mac mismatch')) return 'mac-mismatch';
  return 'other';
}
