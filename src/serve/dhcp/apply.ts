import { log } from '../../util/log.js';
import type { ServeMetrics } from '../metrics.js';
import type { AggregatedType } from '../nodes/activity.js';
import type { NodeBoard } from '../nodes/model.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { DhcpEffect } from '../plan/dhcp.js';
import { RateLog } from '../ratelog.js';

// Performs the registry changes a DHCP decision returned (plan/dhcp.ts), in the order given: the
// one place the DHCP path writes the registry.

export class DhcpApply {
  private readonly rate = new RateLog();
  /** The discovery limit is logged once when reached, again only after it cleared. */
  private discoveryFullLogged = false;

  constructor(
    private readonly registry: NodeRegistry,
    private readonly metrics: ServeMetrics,
  ) {}

  async apply(effects: readonly DhcpEffect[]): Promise<void> {
    for (const e of effects) await this.one(e);
  }

  private async one(e: DhcpEffect): Promise<void> {
    const { registry } = this;
    switch (e.kind) {
      case 'seen':
        await this.activity(e.node, 'dhcp-seen', { mac: e.mac, vendorClass: e.vendorClass, ...(e.model ? { model: e.model } : {}) }, e.mac);
        return;
      case 'learn-identity':
        await registry.learnIdentity(e.node, e.mac, e.serial);
        return;
      case 'learn-board':
        await registry.learnBoard(e.node, e.board);
        return;
      case 'record-discovered':
        await this.discovered(e.mac, e.serial, e.board, e.vendorClass);
        return;
      case 'park':
        await registry.park(e.node, e.reason);
        log.warn({ node: e.node, why: e.reason }, 'dhcp: node parked');
        return;
      case 'self-heal':
        await registry.selfHeal(e.node, e.reason);
        log.warn({ node: e.node, why: e.reason }, 'dhcp: self-healing: serving the installer');
        return;
      case 'leased':
        await registry.leased(e.node, e.ip);
        return;
      case 'offered':
        await this.activity(e.node, 'dhcp-offered', e.mode === 'full' ? { mode: e.mode, ip: e.ip } : { mode: e.mode }, e.mac);
        return;
    }
  }

  private async activity(node: string, type: AggregatedType, data: Record<string, unknown>, source: string): Promise<void> {
    if ((await this.registry.activity(node, type, data, { source })) === 'folded') this.metrics.eventsFolded.inc({ type });
  }

  /** Any host can claim to be a new Pi: the registry bounds how many placeholders, and how fast. */
  private async discovered(mac: string, serial: string | undefined, board: NodeBoard | undefined, vendorClass: string | null): Promise<void> {
    const r = await this.registry.recordDiscovered(mac, serial, null, board, vendorClass);
    if (!('refused' in r)) {
      if (r.created) this.discoveryFullLogged = false;
      return;
    }
    this.metrics.discoveryRefused.inc({ reason: r.refused });
    const fields = { mac, serial: serial ?? null, discovered: r.discovered };
    if (r.refused === 'rate') {
      this.rate.info('dhcp:discovery-rate', fields, 'dhcp: new unknown Pis arrive faster than discovery records them; not recorded');
    } else if (!this.discoveryFullLogged) {
      this.discoveryFullLogged = true;
      log.warn(fields, 'dhcp: discovery limit reached; further unknown Pis are not recorded (register or remove discovered nodes)');
    }
  }
}
