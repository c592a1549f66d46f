import { PRUNABLE_TYPES, type ActivityWrite, type AggregatedType, type EventRetention } from './activity.js';
import { decideEnroll, INSTALL_TOKEN_TTL_MS, newSecret, secretHash, type EnrollDecision, type EnrollRequest } from './enrollment.js';
import {
  failedInARow,
  MAX_FAILED_INSTALLS,
  stateAfter,
  type EventType,
  type NodeBoard,
  type NodeEvent,
  type NodeInput,
  type NodeRecord,
  type NodeSettings,
  type Plan,
} from './model.js';
import { RegistryReads } from './registry-reads.js';
import { RegistryError, type NodeRow } from './registry-rows.js';

// The registry's changes, on one store transaction (NodeRegistry opens one per change). A change
// that builds on another (approve upserts, upsert starts an install) calls it here, on the same
// transaction: the store's transactions do not nest. SQL is the subset SQLite and PostgreSQL read
// alike (see store/sql.ts).

/** Event types record() takes: the aggregated ones go through activity(), `discovered` through recordDiscovered(). */
export type RecordedType = Exclude<EventType, AggregatedType | 'discovered'>;

export type DiscoveryResult = { node: NodeRecord; created: boolean } | { refused: 'limit' | 'rate'; discovered: number };

/** last_seen is refreshed at most this often per node and address: a flood is no write storm. */
const TOUCH_EVERY_MS = 10_000;
const prunableList = PRUNABLE_TYPES.map((t) => `'${t}'`).join(', ');

export class RegistryTx extends RegistryReads {
  private stamp(): string {
    return this.c.now().toISOString();
  }

  /** Returns the board of a discovered placeholder it removed, which the registered node takes over. */
  private async checkIdentityFree(name: string, serial: string | undefined, mac: string | undefined): Promise<NodeBoard | undefined> {
    let board: NodeBoard | undefined;
    const clash = async (col: 'serial' | 'mac', v: string | undefined): Promise<void> => {
      if (!v) return;
      const r = await this.q.get<{ name: string; plan: string; source: string; model: string | null; board_revision: string | null }>(
        `SELECT name, plan, source, model, board_revision FROM nodes WHERE ${col} = ? AND name != ?`,
        [v, name],
      );
      if (!r) return;
      // A discovered placeholder gives way to the registered node with the same identity.
      if (r.plan === 'discovered') {
        await this.q.run('DELETE FROM nodes WHERE name = ?', [r.name]);
        if (r.model !== null) board = { model: r.model, boardRevision: r.board_revision };
        return;
      }
      throw new RegistryError(`${col} ${v} already belongs to node ${r.name}`, 'conflict', {
        field: col,
        value: v,
        owner: r.name,
        ownerSource: r.source === 'yaml' ? 'yaml' : 'db',
      });
    };
    await clash('serial', serial);
    await clash('mac', mac);
    return board;
  }

  /** Creates or updates a node from operator input; `yaml` entries lock their fields against the API. */
  async upsert(input: NodeInput, source: 'db' | 'yaml' = 'db'): Promise<NodeRecord> {
    const existing = await this.get(input.name);
    if (existing && existing.source === 'yaml' && source === 'db') {
      throw new RegistryError(`node ${input.name} is declared in nodes.yaml; change it there`, 'forbidden');
    }
    const discoveredBoard = await this.checkIdentityFree(input.name, input.serial, input.mac);
    const at = this.stamp();
    if (!existing) {
      await this.q.run(
        `INSERT INTO nodes (name, serial, mac, role, image, plan, state, ssh_keys, cluster_init, source, report_token, created_at, self_heal, disk)
         VALUES (?, ?, ?, ?, ?, ?, 'registered', ?, ?, ?, ?, ?, ?, ?)`,
        [
          input.name,
          input.serial ?? null,
          input.mac ?? null,
          input.role,
          input.image ?? null,
          input.plan ?? 'install',
          JSON.stringify(input.sshKeys),
          input.clusterInit ? 1 : 0,
          source,
          '',
          at,
          // Self-healing is opt-in: with it, a forged PXE DISCOVER can flip the node to install.
          input.selfHeal === true ? 1 : 0,
          input.disk ?? null,
        ],
      );
      const ev = await this.appendEvent(input.name, 'registered', { source }, at);
      await this.q.run('UPDATE nodes SET provision_id = ? WHERE name = ?', [ev.id, input.name]);
      if (discoveredBoard) await this.learnBoard(input.name, discoveredBoard);
      if ((input.plan ?? 'install') === 'install') await this.beginInstall(input.name, false);
    } else {
      const plan = input.plan ?? (existing.plan === 'discovered' ? 'install' : existing.plan);
      // An identity the input leaves out is kept (it may have been learned from DHCP).
      const serial = input.serial ?? existing.serial;
      const mac = input.mac ?? existing.mac;
      await this.q.run(
        `UPDATE nodes SET serial = ?, mac = ?, role = ?, image = ?, plan = ?, ssh_keys = ?, cluster_init = ?, source = ?, disk = ?,
         state = CASE WHEN state = 'discovered' THEN 'registered' ELSE state END WHERE name = ?`,
        [serial, mac, input.role, input.image ?? null, plan, JSON.stringify(input.sshKeys), input.clusterInit ? 1 : 0, source, input.disk ?? null, input.name],
      );
      if (input.selfHeal !== undefined) await this.q.run('UPDATE nodes SET self_heal = ? WHERE name = ?', [input.selfHeal ? 1 : 0, input.name]);
      if (discoveredBoard && !existing.model) await this.learnBoard(input.name, discoveredBoard);
      if (plan === 'install' && existing.plan !== 'install') await this.beginInstall(input.name, false);
      if (changed(existing, { ...input, serial: serial ?? undefined, mac: mac ?? undefined }, plan))
        await this.appendEvent(input.name, 'updated', { source }, at);
    }
    return this.mustGet(input.name);
  }

  /** Marks a node to be reinstalled at its next netboot. */
  async reprovision(name: string): Promise<NodeRecord> {
    const n = await this.mustGet(name);
    if (n.plan === 'discovered') throw new RegistryError(`node ${name} is only discovered; register it first`, 'forbidden');
    await this.q.run("UPDATE nodes SET plan = 'install', state = 'registered', parked = NULL WHERE name = ?", [name]);
    const ev = await this.appendEvent(name, 'reprovision', n.parked ? { unparked: n.parked } : {}, this.stamp());
    await this.q.run('UPDATE nodes SET provision_id = ? WHERE name = ?', [ev.id, name]);
    // The operator vouches for this install: a new token, no proof of the old disk needed.
    await this.beginInstall(name, false);
    return this.mustGet(name);
  }

  async setPlan(name: string, plan: 'install' | 'local'): Promise<NodeRecord> {
    const n = await this.mustGet(name);
    await this.q.run('UPDATE nodes SET plan = ? WHERE name = ?', [plan, name]);
    if (plan === 'install' && n.plan !== 'install') await this.beginInstall(name, false);
    await this.appendEvent(name, 'updated', { plan }, this.stamp());
    return this.mustGet(name);
  }

  async remove(name: string): Promise<void> {
    const n = await this.mustGet(name);
    if (n.source === 'yaml') {
      throw new RegistryError(
        `node ${name} is declared in nodes.yaml: delete its entry there and reload kiln serve (SIGHUP or restart), which removes it`,
        'forbidden',
      );
    }
    await this.q.run('DELETE FROM nodes WHERE name = ?', [name]);
    await this.appendEvent(name, 'removed', {}, this.stamp());
  }

  /** Removes a node nodes.yaml declared and no longer does (only the file sync calls this). */
  async dropDeclared(name: string, why: Record<string, unknown>): Promise<void> {
    const n = await this.mustGet(name);
    if (n.source !== 'yaml') throw new RegistryError(`node ${name} is not from nodes.yaml`, 'forbidden');
    await this.q.run('DELETE FROM nodes WHERE name = ?', [name]);
    await this.appendEvent(name, 'removed', why, this.stamp());
  }

  /** See NodeRegistry.recordDiscovered. */
  async recordDiscovered(mac: string, serial: string | undefined, ip: string | null, board?: NodeBoard, vendorClass?: string | null): Promise<DiscoveryResult> {
    const known = await this.find(mac, serial);
    if (known) {
      await this.seen(known.name);
      return { node: await this.mustGet(known.name), created: false };
    }
    const count = await this.q.get<{ n: number | string }>("SELECT CAST(COUNT(*) AS INTEGER) AS n FROM nodes WHERE plan = 'discovered'");
    const discovered = Number(count?.n ?? 0);
    if (discovered >= this.c.discovery.max) return { refused: 'limit', discovered };
    if (!this.c.discovery.bucket.take(this.c.now().getTime())) return { refused: 'rate', discovered };
    const at = this.stamp();
    const name = serial ? `pi-${serial}` : `pi-${mac.replaceAll(':', '')}`;
    await this.q.run(
      `INSERT INTO nodes (name, serial, mac, role, image, plan, state, source, report_token, created_at, ip, last_seen, model, board_revision)
       VALUES (?, ?, ?, 'agent', NULL, 'discovered', 'discovered', 'db', ?, ?, ?, ?, ?, ?)`,
      [name, serial ?? null, mac, '', at, ip, at, board?.model ?? null, board?.boardRevision ?? null],
    );
    // the vendor class says whether its bootloader (PXEClient) or a running system asked: see plan/netboot-note.ts
    const data = { mac, serial: serial ?? null, ...(board ? { model: board.model } : {}), ...(vendorClass !== undefined ? { vendorClass } : {}) };
    await this.appendEvent(name, 'discovered', data, at);
    return { node: await this.mustGet(name), created: true };
  }

  /** See NodeRegistry.learnIdentity. */
  async learnIdentity(name: string, mac: string, serial: string | undefined): Promise<boolean> {
    const n = await this.get(name);
    if (!n) return false;
    let learned = false;
    if (!n.mac && !(await this.byMac(mac))) {
      await this.q.run('UPDATE nodes SET mac = ? WHERE name = ?', [mac, name]);
      learned = true;
    }
    if (!n.serial && serial && !(await this.bySerial(serial))) {
      await this.q.run('UPDATE nodes SET serial = ? WHERE name = ?', [serial, name]);
      learned = true;
    }
    if (learned) await this.appendEvent(name, 'updated', { learned: { mac, serial: serial ?? null } }, this.stamp());
    return learned;
  }

  /** See NodeRegistry.learnBoard. */
  async learnBoard(name: string, b: NodeBoard): Promise<boolean> {
    // Decided in SQL: a DISCOVER that repeats what is on record writes (and syncs) nothing.
    const r = await this.q.run(
      'UPDATE nodes SET model = ?, board_revision = ? WHERE name = ? AND (model IS DISTINCT FROM ? OR board_revision IS DISTINCT FROM ?)',
      [b.model, b.boardRevision, name, b.model, b.boardRevision],
    );
    return r.changes > 0;
  }

  /** See NodeRegistry.seen. */
  async seen(name: string): Promise<void> {
    // Coarse: a flood of requests naming a node is not a write (and an fsync) each; an UPDATE that
    // matches no row commits nothing. Decided in SQL: `kiln node` may have re-created the node.
    const now = this.c.now();
    await this.q.run('UPDATE nodes SET last_seen = ? WHERE name = ? AND (last_seen IS NULL OR last_seen < ?)', [
      now.toISOString(),
      name,
      new Date(now.getTime() - TOUCH_EVERY_MS).toISOString(),
    ]);
  }

  async leased(name: string, ip: string): Promise<void> {
    await this.q.run('UPDATE nodes SET last_seen = ?, ip = ?, leased_ip = ? WHERE name = ?', [this.stamp(), ip, ip, name]);
  }

  async bindAddress(name: string, ip: string): Promise<void> {
    await this.q.run('UPDATE nodes SET last_seen = ?, ip = ? WHERE name = ?', [this.stamp(), ip, name]);
  }

  /** A new install starts: a fresh one-use install token, not yet served (so not yet expiring). */
  private async beginInstall(name: string, needsPrevious: boolean): Promise<void> {
    await this.q.run('UPDATE nodes SET install_token = ?, install_expires = NULL, install_used = NULL, install_needs_previous = ? WHERE name = ?', [
      newSecret(),
      needsPrevious ? 1 : 0,
      name,
    ]);
  }

  /** See NodeRegistry.installTokenFor. */
  async installTokenFor(name: string): Promise<string | undefined> {
    const r = await this.q.get<Pick<NodeRow, 'plan' | 'parked' | 'install_token' | 'install_expires' | 'install_used'>>(
      'SELECT plan, parked, install_token, install_expires, install_used FROM nodes WHERE name = ?',
      [name],
    );
    if (r?.plan !== 'install' || r.parked) return undefined;
    const now = this.c.now();
    const fresh = new Date(now.getTime() + INSTALL_TOKEN_TTL_MS).toISOString();
    if (!r.install_token || (!r.install_used && r.install_expires && Date.parse(r.install_expires) <= now.getTime())) {
      const t = newSecret();
      await this.q.run('UPDATE nodes SET install_token = ?, install_expires = ?, install_used = NULL WHERE name = ?', [t, fresh, name]);
      return t;
    }
    if (!r.install_expires && !r.install_used) await this.q.run('UPDATE nodes SET install_expires = ? WHERE name = ?', [fresh, name]);
    return r.install_token;
  }

  /** See NodeRegistry.enroll. */
  async enroll(name: string, req: EnrollRequest): Promise<{ decision: EnrollDecision; credential?: string }> {
    const r = await this.q.get<NodeRow>('SELECT * FROM nodes WHERE name = ?', [name]);
    if (!r) throw new RegistryError(`no node named ${name}`, 'not-found');
    const decision = decideEnroll(
      {
        plan: r.plan,
        parked: r.parked !== null,
        installToken: r.install_token,
        expires: r.install_expires,
        used: r.install_used,
        needsPrevious: Number(r.install_needs_previous) === 1,
        credentialHash: r.credential_hash,
        leasedIp: r.leased_ip,
      },
      req,
      this.c.now(),
    );
    const at = this.stamp();
    if (!decision.ok) {
      if (decision.alert) await this.appendEvent(name, 'alert', { kind: `enrol-${decision.why}`, ip: req.ip, message: decision.message }, at);
      return { decision };
    }
    const credential = newSecret();
    await this.q.run('UPDATE nodes SET credential_hash = ?, install_used = ? WHERE name = ?', [secretHash(credential), at, name]);
    await this.appendEvent(name, 'enrolled', { ip: req.ip, selfHeal: Number(r.install_needs_previous) === 1 }, at);
    return { decision, credential };
  }

  /** Appends aggregated activity rows (ActivityAggregator's output), all with the same time. */
  async writeActivity(rows: readonly ActivityWrite[]): Promise<void> {
    const at = this.stamp();
    for (const r of rows) await this.appendEvent(r.node, r.type, r.data, at);
  }

  /** See NodeRegistry.pruneEvents: the gate is open only inside this transaction. */
  async pruneEvents(retention: Exclude<EventRetention, { kind: 'forever' }>): Promise<number> {
    await this.q.run('UPDATE retention_gate SET open = 1 WHERE id = 1');
    const deleted =
      retention.kind === 'age'
        ? await this.q.run(`DELETE FROM events WHERE type IN (${prunableList}) AND at < ?`, [new Date(this.c.now().getTime() - retention.ms).toISOString()])
        : await this.q.run(
            `DELETE FROM events WHERE type IN (${prunableList}) AND id < (
               SELECT id FROM events WHERE type IN (${prunableList}) ORDER BY id DESC LIMIT 1 OFFSET ?)`,
            [retention.events - 1],
          );
    await this.q.run('UPDATE retention_gate SET open = 0 WHERE id = 1');
    return deleted.changes;
  }

  /** See NodeRegistry.record. */
  async record(name: string, type: RecordedType, data: Record<string, unknown> = {}): Promise<NodeEvent> {
    const n = await this.mustGet(name);
    const at = this.stamp();
    const next = stateAfter(type, n.state);
    if (next !== n.state) await this.q.run('UPDATE nodes SET state = ? WHERE name = ?', [next, name]);
    // Once installed, netboot must not reinstall it again on the next power cycle.
    if (type === 'installed') await this.q.run("UPDATE nodes SET plan = 'local' WHERE name = ?", [name]);
    const event = await this.appendEvent(name, type, data, at);
    if (type === 'install-failed' && !n.parked) {
      const failed = failedInARow(await this.decisionHistory(name));
      if (failed >= MAX_FAILED_INSTALLS) await this.parkIn(name, `${failed} failed installs in a row; last: ${String(data.message ?? 'no reason given')}`, at);
    }
    return event;
  }

  async park(name: string, reason: string): Promise<NodeRecord> {
    await this.mustGet(name);
    await this.parkIn(name, reason, this.stamp());
    return this.mustGet(name);
  }

  async unpark(name: string): Promise<NodeRecord> {
    const n = await this.mustGet(name);
    if (!n.parked) throw new RegistryError(`node ${name} is not parked`, 'conflict');
    await this.q.run("UPDATE nodes SET parked = NULL, state = 'registered' WHERE name = ?", [name]);
    await this.appendEvent(name, 'unparked', { reason: n.parked }, this.stamp());
    return this.mustGet(name);
  }

  /** See NodeRegistry.updateSettings. */
  async updateSettings(name: string, s: NodeSettings): Promise<NodeRecord> {
    const n = await this.mustGet(name);
    if (n.source === 'yaml') throw new RegistryError(`node ${name} is declared in nodes.yaml; change it there`, 'forbidden');
    if (n.plan === 'discovered') throw new RegistryError(`node ${name} is only discovered; approve (register) it first`, 'conflict');
    const changed: Record<string, unknown> = {};
    if (s.disk !== undefined && s.disk !== (n.disk ?? null)) {
      await this.q.run('UPDATE nodes SET disk = ? WHERE name = ?', [s.disk, name]);
      changed.disk = s.disk;
    }
    if (s.selfHeal !== undefined && s.selfHeal !== (n.selfHeal ?? false)) {
      await this.q.run('UPDATE nodes SET self_heal = ? WHERE name = ?', [s.selfHeal ? 1 : 0, name]);
      changed.selfHeal = s.selfHeal;
    }
    if (s.configTxt !== undefined && JSON.stringify(s.configTxt) !== JSON.stringify(n.configTxt ?? [])) {
      await this.q.run('UPDATE nodes SET config_txt = ? WHERE name = ?', [s.configTxt.length > 0 ? JSON.stringify(s.configTxt) : null, name]);
      changed.configTxt = s.configTxt;
    }
    if (Object.keys(changed).length > 0) await this.appendEvent(name, 'updated', { source: 'api', changed }, this.stamp());
    return this.mustGet(name);
  }

  /** See NodeRegistry.approve. */
  async approve(placeholder: string, input: Omit<NodeInput, 'serial' | 'mac'>): Promise<NodeRecord> {
    const p = await this.mustGet(placeholder);
    if (p.plan !== 'discovered') throw new RegistryError(`node ${placeholder} is not a discovered Pi (its plan is ${p.plan})`, 'conflict');
    const identity = { serial: p.serial ?? undefined, mac: p.mac ?? undefined };
    if (input.name === placeholder) {
      // upsert would update the placeholder in place: replace it instead, so the node starts as
      // any registered one does (registered event, provision id, install token).
      await this.q.run('DELETE FROM nodes WHERE name = ?', [placeholder]);
      const node = await this.upsert({ ...input, ...identity });
      if (p.model !== null && p.model !== undefined) await this.learnBoard(node.name, { model: p.model, boardRevision: p.boardRevision ?? null });
      return this.mustGet(node.name);
    }
    if (await this.get(input.name)) throw new RegistryError(`a node named ${input.name} exists already`, 'conflict');
    const node = await this.upsert({ ...input, ...identity });
    await this.appendEvent(placeholder, 'removed', { reason: 'approved', as: node.name }, this.stamp());
    return node;
  }

  private async parkIn(name: string, reason: string, at: string): Promise<void> {
    await this.q.run("UPDATE nodes SET parked = ?, state = 'failed' WHERE name = ?", [reason, name]);
    await this.appendEvent(name, 'parked', { reason }, at);
  }

  /** See NodeRegistry.selfHeal. */
  async selfHeal(name: string, reason: string): Promise<NodeRecord> {
    await this.mustGet(name);
    await this.q.run("UPDATE nodes SET plan = 'install', state = 'registered' WHERE name = ?", [name]);
    // Anyone can send the PXE DISCOVER that got us here: the installer must show the old disk's credential.
    await this.beginInstall(name, true);
    await this.appendEvent(name, 'self-heal', { reason }, this.stamp());
    return this.mustGet(name);
  }

  private async appendEvent(node: string, type: EventType, data: Record<string, unknown>, at: string): Promise<NodeEvent> {
    const agent = this.c.agent;
    const r = await this.q.get<{ id: number | string }>('INSERT INTO events (node, type, at, data, agent) VALUES (?, ?, ?, ?, ?) RETURNING id', [
      node,
      type,
      at,
      JSON.stringify(data),
      agent,
    ]);
    if (!r) throw new Error('INSERT ... RETURNING id returned no row');
    return { id: Number(r.id), node, type, at, data, agent };
  }

  /**
   * Databases from before credentials: the report token a node already holds (from its seed)
   * becomes its credential, stored hashed; the provision id is the event the seed used to look up,
   * so no node's instance-id changes on upgrade.
   */
  async migrateSecrets(): Promise<void> {
    const rows = await this.q.all<{ name: string; report_token: string }>("SELECT name, report_token FROM nodes WHERE report_token != ''");
    for (const r of rows) {
      await this.q.run("UPDATE nodes SET credential_hash = COALESCE(credential_hash, ?), report_token = '' WHERE name = ?", [
        secretHash(r.report_token),
        r.name,
      ]);
    }
    const noProvision = await this.q.all<{ name: string }>('SELECT name FROM nodes WHERE provision_id IS NULL');
    for (const r of noProvision) {
      const e = await this.q.get<{ id: number | string | null }>("SELECT MAX(id) AS id FROM events WHERE node = ? AND type IN ('registered', 'reprovision')", [
        r.name,
      ]);
      await this.q.run('UPDATE nodes SET provision_id = ? WHERE name = ?', [Number(e?.id ?? 0), r.name]);
    }
  }
}

function changed(n: NodeRecord, i: NodeInput, plan: Plan): boolean {
  return (
    n.serial !== (i.serial ?? null) ||
    n.mac !== (i.mac ?? null) ||
    n.role !== i.role ||
    n.image !== (i.image ?? null) ||
    n.plan !== plan ||
    n.clusterInit !== i.clusterInit ||
    (n.disk ?? null) !== (i.disk ?? null) ||
    (i.selfHeal !== undefined && i.selfHeal !== (n.selfHeal ?? false)) ||
    JSON.stringify(n.sshKeys) !== JSON.stringify(i.sshKeys)
  );
}
