import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { log } from '../../util/log.js';
import type { ServeLookup } from '../lookup.js';
import type { ServeMetrics } from '../metrics.js';
import type { NodeRecord } from '../nodes/model.js';
import type { NodeRegistry } from '../nodes/registry.js';
import { isStoreUnreachable } from '../nodes/store/sql.js';
import { answeredEffects, decideDhcp, type DhcpClient, type DhcpDropReason, type DhcpMode } from '../plan/dhcp.js';
import { RateLog } from '../ratelog.js';
import { DhcpApply } from './apply.js';
import { BOOTREQUEST, DhcpParseError, macOf, parseDhcp, serializeDhcp, type DhcpPacket } from './codec.js';
import { MSG, decodePiGuid, messageType, requestedIp, serverId, vendorClass } from './options.js';
import type { LeasePool } from './pool.js';
import { buildReply, type LeaseInfo } from './reply.js';
import { errorText, KilnError } from '../../util/errors.js';

// The DHCP socket server: parse the packet, decide (plan/dhcp.ts, pure), apply the registry
// changes the decision names (apply.ts), send. Proxy mode answers only PXE clients kiln is to
// serve, with no address; full mode also leases addresses from a small pool.

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

/**
 * The `reason` label of kiln_dhcp_drops_total: why the decision declined the client, or what the
 * packet or the lease exchange lacked.
 */
export type DhcpDropLabel =
  | DhcpDropReason
  | 'malformed'
  | 'not-a-request'
  | 'unsupported-type'
  | 'not-ethernet'
  | 'internal'
  | 'store-unreachable'
  | 'proxy-request'
  | 'pool-exhausted'
  | 'request-for-other-server'
  | 'nak';

export class DhcpServer {
  private socket: Socket | undefined;
  /**
   * Replies leave from a socket bound to the server address: Linux then sends the limited broadcast
   * out of that address's interface, with no route needed and never out of another interface.
   * It also receives unicast renewals addressed to the server.
   */
  private sender: Socket | undefined;
  private readonly rate = new RateLog();
  private readonly effects: DhcpApply;

  constructor(private readonly o: DhcpServerOptions) {
    if (o.mode === 'full' && !o.pool) throw new KilnError('full DHCP mode needs an address pool');
    this.effects = new DhcpApply(o.registry, o.metrics);
  }

  async start(): Promise<void> {
    this.socket = await this.open(this.o.bindAddress ?? '0.0.0.0');
    this.sender = await this.open(this.o.serverIp);
  }

  private open(address: string): Promise<Socket> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (msg, rinfo) => {
      // A bug or a failing registry must cost one packet, not the service: the exchange is async
      // (the registry), so its failure arrives as a rejection, caught here and never left unhandled.
      this.onMessage(msg, rinfo).catch((err: unknown) => this.drop(isStoreUnreachable(err) ? 'store-unreachable' : 'internal', { err: errorText(err) }));
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

  private drop(reason: DhcpDropLabel, fields: Record<string, unknown> = {}): void {
    this.o.metrics.dhcpDrops.inc({ reason });
    this.rate.info(`dhcp:${reason}`, { reason, ...fields }, 'dhcp: not answered');
  }

  private async onMessage(msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    let p: DhcpPacket;
    try {
      p = parseDhcp(msg);
    } catch (err) {
      if (err instanceof DhcpParseError) {
        this.drop('malformed', { from: rinfo.address, why: err.reason });
        return;
      }
      throw err;
    }
    if (p.op !== BOOTREQUEST) {
      this.drop('not-a-request');
      return;
    }
    const type = messageType(p);
    if (type === MSG.RELEASE) {
      this.o.pool?.leases.release(macOf(p));
      return;
    }
    if (type !== MSG.DISCOVER && type !== MSG.REQUEST) {
      this.drop('unsupported-type', { type });
      return;
    }
    if (p.htype !== 1 || p.hlen !== 6) {
      this.drop('not-ethernet');
      return;
    }

    const guid = decodePiGuid(p);
    const client: DhcpClient = {
      mac: macOf(p),
      serial: guid?.serial,
      fourcc: guid?.fourcc,
      boardRevision: guid?.boardRevision,
      vendorClass: vendorClass(p),
    };
    const { registry, lookup } = this.o;
    const node = await registry.find(client.mac, client.serial);
    const decision = decideDhcp(
      {
        message: type === MSG.DISCOVER ? 'discover' : 'request',
        client,
        node,
        image: node ? lookup.imageOf(node) : undefined,
        history: node && node.plan === 'local' ? await registry.decisionHistory(node.name) : [],
      },
      { mode: this.o.mode, discovery: this.o.discovery },
    );
    await this.effects.apply(decision.effects);
    if (decision.answer === 'none') {
      this.drop(decision.reason, { mac: client.mac, why: decision.detail });
      return;
    }
    if (decision.answer === 'boot' && this.o.mode === 'proxy') {
      await this.answerProxy(p, type, decision.node, decision.menu);
      return;
    }
    await this.answerFull(p, type, decision.node, decision.menu, decision.answer === 'boot' && decision.pxe);
  }

  private async answerProxy(p: DhcpPacket, type: number, node: NodeRecord, menu: string): Promise<void> {
    // The address comes from the router, so the REQUEST is the router's to answer. Acknowledging
    // one that named kiln would hand a client that is not PXE-aware an empty lease.
    if (type !== MSG.DISCOVER) {
      this.drop('proxy-request');
      return;
    }
    this.send(buildReply(p, { type: MSG.OFFER, serverIp: this.o.serverIp, menu }), p);
    this.o.metrics.boots.inc({ mode: 'proxy' });
    await this.effects.apply(answeredEffects(node.name, macOf(p)));
  }

  private async answerFull(p: DhcpPacket, type: number, node: NodeRecord, menu: string, pxe: boolean): Promise<void> {
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
      if (!ip) {
        this.drop('pool-exhausted', { mac });
        return;
      }
      this.send(buildReply(p, { type: MSG.OFFER, serverIp: this.o.serverIp, menu, pxe, lease: lease(ip) }), p);
      return;
    }
    const sid = serverId(p);
    if (sid !== undefined && sid !== this.o.serverIp) {
      pool.leases.release(mac);
      this.drop('request-for-other-server');
      return;
    }
    const want = requestedIp(p) ?? (p.ciaddr !== '0.0.0.0' ? p.ciaddr : undefined);
    if (!want || !pool.leases.commit(mac, want)) {
      this.send(buildReply(p, { type: MSG.NAK, serverIp: this.o.serverIp, menu }), p);
      this.drop('nak', { mac, requested: want ?? null });
      return;
    }
    this.send(buildReply(p, { type: MSG.ACK, serverIp: this.o.serverIp, menu, pxe, lease: lease(want) }), p);
    this.o.metrics.boots.inc({ mode: 'full' });
    await this.effects.apply(answeredEffects(node.name, mac, want));
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
