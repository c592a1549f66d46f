import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { decideEnroll, INSTALL_TOKEN_TTL_MS, newSecret, sameSecret, secretHash, type EnrollDecision, type EnrollRequest } from './enrollment.js';
import { ActivityAggregator, PRUNABLE_TYPES, TokenBucket, type ActivityWrite, type AggregatedType, type EventRetention, type Occurrence } from './activity.js';
import {
  DECISION_EVENTS,
  failedInARow,
  MAX_FAILED_INSTALLS,
  stateAfter,
  type EventType,
  type NodeEvent,
  type NodeBoard,
  type NodeInput,
  type NodeRecord,
  type NodeSettings,
  type NodeState,
  type Plan,
  type Role,
} from './model.js';
import { KilnError } from '../../util/errors.js';

// The node registry: SQLite in the state dir. Every change is one transaction that also appends
// to the event log, so the timeline and the node table never disagree.

/** Which identity of which node a change collided with, for callers that explain it in their own terms. */
export interface IdentityClash {
  field: 'serial' | 'mac';
  value: string;
  owner: string;
  ownerSource: 'db' | 'yaml';
}

export class RegistryError extends KilnError {
  constructor(
    message: string,
    readonly code: 'not-found' | 'conflict' | 'forbidden',
    readonly clash?: IdentityClash,
  ) {
    super(message);
  }
}

interface NodeRow {
  name: string;
  serial: string | null;
  mac: string | null;
  role: string;
  image: string | null;
  plan: string;
  state: string;
  ssh_keys: string;
  cluster_init: number;
  ip: string | null;
  last_seen: string | null;
  source: string;
  report_token: string;
  self_heal: number;
  parked: string | null;
  disk: string | null;
  provision_id: number | null;
  install_token: string | null;
  install_expires: string | null;
  install_used: string | null;
  install_needs_previous: number;
  credential_hash: string | null;
  leased_ip: string | null;
  model: string | null;
  board_revision: string | null;
  config_txt: string | null;
}

interface EventRow {
  id: number;
  node: string;
  type: string;
  at: string;
  data: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
  name TEXT PRIMARY KEY,
  serial TEXT UNIQUE,
  mac TEXT UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('server','agent')),
  image TEXT,
  plan TEXT NOT NULL CHECK (plan IN ('install','local','discovered')),
  state TEXT NOT NULL,
  ssh_keys TEXT NOT NULL DEFAULT '[]',
  cluster_init INTEGER NOT NULL DEFAULT 0,
  ip TEXT,
  last_seen TEXT,
  source TEXT NOT NULL DEFAULT 'db',
  report_token TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_ip ON nodes(ip);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  node TEXT NOT NULL,
  type TEXT NOT NULL,
  at TEXT NOT NULL,
  data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_node ON events(node, id);
CREATE TRIGGER IF NOT EXISTS events_append_only_u BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TABLE IF NOT EXISTS retention_gate (id INTEGER PRIMARY KEY CHECK (id = 1), open INTEGER NOT NULL);
INSERT OR IGNORE INTO retention_gate (id, open) VALUES (1, 0);
`;

const prunableList = PRUNABLE_TYPES.map((t) => `'${t}'`).join(', ');

/**
 * Events are append-only, with one way out: the retention (pruneEvents) deletes old *activity*
 * rows. The trigger lets a DELETE through only when both hold: the row is of a prunable type, and
 * retention_gate.open is 1. pruneEvents sets it to 1, deletes and sets it back to 0 inside one
 * transaction, so no other statement or connection ever sees it open (a failed delete rolls the
 * flag back with it). A state change (registered, install-*, parked, ...) cannot be deleted even
 * then; a missing gate row reads as closed. Versioned by name: a database made by an older kiln has
 * the unconditional `events_append_only_d`, replaced on open.
 */
const DELETE_TRIGGER = 'events_delete_by_retention_v1';
const DELETE_TRIGGER_SQL = `
CREATE TRIGGER ${DELETE_TRIGGER} BEFORE DELETE ON events
  WHEN OLD.type NOT IN (${prunableList}) OR (SELECT open FROM retention_gate WHERE id = 1) IS NOT 1
  BEGIN SELECT RAISE(ABORT, 'events are append-only (only the retention removes old activity, never a state change)'); END;`;

function toRecord(r: NodeRow): NodeRecord {
  return {
    name: r.name,
    serial: r.serial,
    mac: r.mac,
    role: r.role as Role,
    image: r.image,
    plan: r.plan as Plan,
    state: r.state as NodeState,
    sshKeys: JSON.parse(r.ssh_keys) as string[],
    clusterInit: r.cluster_init === 1,
    ip: r.ip,
    lastSeen: r.last_seen,
    source: r.source === 'yaml' ? 'yaml' : 'db',
    selfHeal: r.self_heal !== 0,
    parked: r.parked,
    disk: r.disk,
    provisionId: r.provision_id ?? 0,
    model: r.model,
    boardRevision: r.board_revision,
    configTxt: r.config_txt === null ? [] : (JSON.parse(r.config_txt) as string[]),
  };
}

/** Columns added after the first schema; databases made before them get them on open. */
const ADDED_COLUMNS: readonly [string, string][] = [
  ['self_heal', 'INTEGER NOT NULL DEFAULT 1'],
  ['parked', 'TEXT'],
  ['disk', 'TEXT'],
  // The event id of the node's last registration or reprovision: its cloud-init instance-id.
  ['provision_id', 'INTEGER'],
  // The one-use install token of the current install (plain: it is served over TFTP anyway).
  ['install_token', 'TEXT'],
  ['install_expires', 'TEXT'],
  ['install_used', 'TEXT'],
  ['install_needs_previous', 'INTEGER NOT NULL DEFAULT 0'],
  // sha256 of the node's credential; the credential itself lives only on the node's disk.
  ['credential_hash', 'TEXT'],
  ['leased_ip', 'TEXT'],
  // The board the node's DHCP requests named (option 97's revision code, decoded by serve/plan/board.ts).
  ['model', 'TEXT'],
  ['board_revision', 'TEXT'],
  // The operator's config.txt lines for the node (JSON array); NULL: none.
  ['config_txt', 'TEXT'],
];

export interface RegistryOptions {
  now?: () => Date;
  /** Aggregation window of unauthenticated activity events (dhcp-seen, file-fetched, ...). */
  activityWindowMs?: number;
  /** At most `max` discovered placeholders, created at most `perMinute` (after a first `burst`). */
  discovery?: { max: number; burst: number; perMinute: number };
}

export const DEFAULT_ACTIVITY_WINDOW_MS = 60_000;
export const DEFAULT_DISCOVERY = { max: 64, burst: 10, perMinute: 10 } as const;
/** last_seen is refreshed at most this often per node and address: a flood is no write storm. */
const TOUCH_EVERY_MS = 10_000;

export type DiscoveryResult = { node: NodeRecord; created: boolean } | { refused: 'limit' | 'rate'; discovered: number };

/** Event types record() takes: the aggregated ones go through activity(), `discovered` through recordDiscovered(). */
export type RecordedType = Exclude<EventType, AggregatedType | 'discovered'>;

export class NodeRegistry {
  private readonly db: Database.Database;
  private readonly now: () => Date;
  private readonly activityLog: ActivityAggregator;
  private readonly discovery: { max: number; bucket: TokenBucket };

  constructor(path: string, opts: RegistryOptions = {}) {
    // Report tokens live in this file: a new state dir is private, the database 0600.
    if (path !== ':memory:' && !existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    if (path !== ':memory:') chmodSync(path, 0o600);
    // WAL lets `kiln node ...` change the registry while `kiln serve` reads it.
    this.db.pragma('journal_mode = WAL');
    // WAL's default (NORMAL) syncs only at checkpoints, so a power cut can drop changes that were
    // already acknowledged (an `installed` report, a registration): FULL syncs the WAL at every
    // commit. Per connection, so `kiln node` gets it too.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    // Rows hold credential hashes and install tokens: what is deleted or overwritten is zeroed on disk.
    this.db.pragma('secure_delete = ON');
    this.db.exec(SCHEMA);
    const have = new Set((this.db.prepare('PRAGMA table_info(nodes)').all() as { name: string }[]).map((c) => c.name));
    for (const [col, def] of ADDED_COLUMNS) if (!have.has(col)) this.db.exec(`ALTER TABLE nodes ADD COLUMN ${col} ${def}`);
    this.migrateSecrets();
    this.migrateDeleteTrigger();
    this.now = opts.now ?? (() => new Date());
    this.activityLog = new ActivityAggregator(opts.activityWindowMs ?? DEFAULT_ACTIVITY_WINDOW_MS);
    const d = opts.discovery ?? DEFAULT_DISCOVERY;
    this.discovery = { max: d.max, bucket: new TokenBucket(d.burst, d.perMinute, this.now().getTime()) };
  }

  private migrateDeleteTrigger(): void {
    const has = (name: string): boolean => this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?").get(name) !== undefined;
    if (has(DELETE_TRIGGER) && !has('events_append_only_d')) return;
    this.db
      .transaction(() => {
        this.db.exec('DROP TRIGGER IF EXISTS events_append_only_d');
        if (!has(DELETE_TRIGGER)) this.db.exec(DELETE_TRIGGER_SQL);
      })
      .immediate();
  }

  /** Writes the activity still being aggregated, then closes the database. */
  close(): void {
    if (this.db.open) {
      this.writeActivity(this.activityLog.drain());
      this.db.close();
    }
  }

  /** The durability settings in force on this connection (logged at start-up, checked by tests). */
  settings(): { journalMode: string; synchronous: number } {
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
    };
  }

  /**
   * Databases from before credentials: the report token a node already holds (from its seed)
   * becomes its credential, stored hashed; the provision id is the event the seed used to look up,
   * so no node's instance-id changes on upgrade.
   */
  private migrateSecrets(): void {
    const rows = this.db.prepare("SELECT name, report_token FROM nodes WHERE report_token != ''").all() as { name: string; report_token: string }[];
    const rowsNoProvision = this.db.prepare('SELECT name FROM nodes WHERE provision_id IS NULL').all() as { name: string }[];
    if (rows.length === 0 && rowsNoProvision.length === 0) return;
    this.db.transaction(() => {
      for (const r of rows) {
        this.db
          .prepare("UPDATE nodes SET credential_hash = COALESCE(credential_hash, ?), report_token = '' WHERE name = ?")
          .run(secretHash(r.report_token), r.name);
      }
      for (const r of rowsNoProvision) {
        const e = this.db.prepare("SELECT MAX(id) AS id FROM events WHERE node = ? AND type IN ('registered', 'reprovision')").get(r.name) as {
          id: number | null;
        };
        this.db.prepare('UPDATE nodes SET provision_id = ? WHERE name = ?').run(e.id ?? 0, r.name);
      }
    })();
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  /** Runs several changes as one transaction (nested changes become savepoints). */
  batch<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  list(): NodeRecord[] {
    return (this.db.prepare('SELECT * FROM nodes ORDER BY name').all() as NodeRow[]).map(toRecord);
  }

  get(name: string): NodeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM nodes WHERE name = ?').get(name) as NodeRow | undefined;
    return r && toRecord(r);
  }

  mustGet(name: string): NodeRecord {
    const n = this.get(name);
    if (!n) throw new RegistryError(`no node named ${name}`, 'not-found');
    return n;
  }

  byMac(mac: string): NodeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM nodes WHERE mac = ?').get(mac.toLowerCase()) as NodeRow | undefined;
    return r && toRecord(r);
  }

  bySerial(serial: string): NodeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM nodes WHERE serial = ?').get(serial.toLowerCase()) as NodeRow | undefined;
    return r && toRecord(r);
  }

  byIp(ip: string): NodeRecord | undefined {
    const r = this.db.prepare('SELECT * FROM nodes WHERE ip = ? ORDER BY last_seen DESC LIMIT 1').get(ip) as NodeRow | undefined;
    return r && toRecord(r);
  }

  /** TFTP prefix: serial (8 hex digits) or MAC with dashes. */
  byPrefix(prefix: string): NodeRecord | undefined {
    const p = prefix.toLowerCase();
    return /^[0-9a-f]{8}$/.test(p) ? this.bySerial(p) : this.byMac(p.replaceAll('-', ':'));
  }

  /** Finds the node a DHCP client is: a registered MAC first, then the serial from option 97. */
  find(mac: string, serial?: string): NodeRecord | undefined {
    return this.byMac(mac) ?? (serial ? this.bySerial(serial) : undefined);
  }

  /** Returns the board of a discovered placeholder it removed, which the registered node takes over. */
  private checkIdentityFree(name: string, serial: string | undefined, mac: string | undefined): NodeBoard | undefined {
    let board: NodeBoard | undefined;
    const clash = (col: 'serial' | 'mac', v: string | undefined): void => {
      if (!v) return;
      const r = this.db.prepare(`SELECT name, plan, source, model, board_revision FROM nodes WHERE ${col} = ? AND name != ?`).get(v, name) as
        | { name: string; plan: string; source: string; model: string | null; board_revision: string | null }
        | undefined;
      if (!r) return;
      // A discovered placeholder gives way to the registered node with the same identity.
      if (r.plan === 'discovered') {
        this.db.prepare('DELETE FROM nodes WHERE name = ?').run(r.name);
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
    clash('serial', serial);
    clash('mac', mac);
    return board;
  }

  /** Creates or updates a node from operator input; `yaml` entries lock their fields against the API. */
  upsert(input: NodeInput, source: 'db' | 'yaml' = 'db'): NodeRecord {
    const tx = this.db.transaction((): NodeRecord => {
      const existing = this.get(input.name);
      if (existing && existing.source === 'yaml' && source === 'db') {
        throw new RegistryError(`node ${input.name} is declared in nodes.yaml; change it there`, 'forbidden');
      }
      const discoveredBoard = this.checkIdentityFree(input.name, input.serial, input.mac);
      const at = this.stamp();
      if (!existing) {
        this.db
          .prepare(
            `INSERT INTO nodes (name, serial, mac, role, image, plan, state, ssh_keys, cluster_init, source, report_token, created_at, self_heal, disk)
             VALUES (?, ?, ?, ?, ?, ?, 'registered', ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
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
          );
        const ev = this.appendEvent(input.name, 'registered', { source }, at);
        this.db.prepare('UPDATE nodes SET provision_id = ? WHERE name = ?').run(ev.id, input.name);
        if (discoveredBoard) this.learnBoard(input.name, discoveredBoard);
        if ((input.plan ?? 'install') === 'install') this.beginInstall(input.name, false);
      } else {
        const plan = input.plan ?? (existing.plan === 'discovered' ? 'install' : existing.plan);
        // An identity the input leaves out is kept (it may have been learned from DHCP).
        const serial = input.serial ?? existing.serial;
        const mac = input.mac ?? existing.mac;
        this.db
          .prepare(
            `UPDATE nodes SET serial = ?, mac = ?, role = ?, image = ?, plan = ?, ssh_keys = ?, cluster_init = ?, source = ?, disk = ?,
             state = CASE WHEN state = 'discovered' THEN 'registered' ELSE state END WHERE name = ?`,
          )
          .run(
            serial,
            mac,
            input.role,
            input.image ?? null,
            plan,
            JSON.stringify(input.sshKeys),
            input.clusterInit ? 1 : 0,
            source,
            input.disk ?? null,
            input.name,
          );
        if (input.selfHeal !== undefined) this.db.prepare('UPDATE nodes SET self_heal = ? WHERE name = ?').run(input.selfHeal ? 1 : 0, input.name);
        if (discoveredBoard && !existing.model) this.learnBoard(input.name, discoveredBoard);
        if (plan === 'install' && existing.plan !== 'install') this.beginInstall(input.name, false);
        if (changed(existing, { ...input, serial: serial ?? undefined, mac: mac ?? undefined }, plan)) this.appendEvent(input.name, 'updated', { source }, at);
      }
      return this.mustGet(input.name);
    });
    return tx.immediate();
  }

  /** Marks a node to be reinstalled at its next netboot. */
  reprovision(name: string): NodeRecord {
    const tx = this.db.transaction((): NodeRecord => {
      const n = this.mustGet(name);
      if (n.plan === 'discovered') throw new RegistryError(`node ${name} is only discovered; register it first`, 'forbidden');
      this.db.prepare("UPDATE nodes SET plan = 'install', state = 'registered', parked = NULL WHERE name = ?").run(name);
      const ev = this.appendEvent(name, 'reprovision', n.parked ? { unparked: n.parked } : {}, this.stamp());
      this.db.prepare('UPDATE nodes SET provision_id = ? WHERE name = ?').run(ev.id, name);
      // The operator vouches for this install: a new token, no proof of the old disk needed.
      this.beginInstall(name, false);
      return this.mustGet(name);
    });
    return tx.immediate();
  }

  setPlan(name: string, plan: 'install' | 'local'): NodeRecord {
    const tx = this.db.transaction((): NodeRecord => {
      const n = this.mustGet(name);
      this.db.prepare('UPDATE nodes SET plan = ? WHERE name = ?').run(plan, name);
      if (plan === 'install' && n.plan !== 'install') this.beginInstall(name, false);
      this.appendEvent(name, 'updated', { plan }, this.stamp());
      return this.mustGet(name);
    });
    return tx.immediate();
  }

  remove(name: string): void {
    const tx = this.db.transaction(() => {
      const n = this.mustGet(name);
      if (n.source === 'yaml') {
        throw new RegistryError(
          `node ${name} is declared in nodes.yaml: delete its entry there and reload kiln serve (SIGHUP or restart), which removes it`,
          'forbidden',
        );
      }
      this.db.prepare('DELETE FROM nodes WHERE name = ?').run(name);
      this.appendEvent(name, 'removed', {}, this.stamp());
    });
    tx.immediate();
  }

  /** Removes a node nodes.yaml declared and no longer does (only the file sync calls this). */
  dropDeclared(name: string, why: Record<string, unknown>): void {
    const tx = this.db.transaction(() => {
      const n = this.mustGet(name);
      if (n.source !== 'yaml') throw new RegistryError(`node ${name} is not from nodes.yaml`, 'forbidden');
      this.db.prepare('DELETE FROM nodes WHERE name = ?').run(name);
      this.appendEvent(name, 'removed', why, this.stamp());
    });
    tx.immediate();
  }

  /**
   * Records an unknown Pi once; later sightings only refresh last-seen. Any host can claim to be a
   * new Pi, so new placeholders are bounded: at most `discovery.max` at a time, created at a bounded
   * rate; beyond either the Pi is refused (the caller counts and logs it) and nothing is written.
   */
  recordDiscovered(mac: string, serial: string | undefined, ip: string | null, board?: NodeBoard, vendorClass?: string | null): DiscoveryResult {
    const tx = this.db.transaction((): DiscoveryResult => {
      const known = this.find(mac, serial);
      if (known) {
        this.seen(known.name);
        return { node: this.mustGet(known.name), created: false };
      }
      const discovered = (this.db.prepare("SELECT COUNT(*) AS n FROM nodes WHERE plan = 'discovered'").get() as { n: number }).n;
      if (discovered >= this.discovery.max) return { refused: 'limit', discovered };
      if (!this.discovery.bucket.take(this.now().getTime())) return { refused: 'rate', discovered };
      const at = this.stamp();
      const name = serial ? `pi-${serial}` : `pi-${mac.replaceAll(':', '')}`;
      this.db
        .prepare(
          `INSERT INTO nodes (name, serial, mac, role, image, plan, state, source, report_token, created_at, ip, last_seen, model, board_revision)
           VALUES (?, ?, ?, 'agent', NULL, 'discovered', 'discovered', 'db', ?, ?, ?, ?, ?, ?)`,
        )
        .run(name, serial ?? null, mac, '', at, ip, at, board?.model ?? null, board?.boardRevision ?? null);
      // the vendor class says whether its bootloader (PXEClient) or a running system asked: see plan/netboot-note.ts
      const data = { mac, serial: serial ?? null, ...(board ? { model: board.model } : {}), ...(vendorClass !== undefined ? { vendorClass } : {}) };
      this.appendEvent(name, 'discovered', data, at);
      return { node: this.mustGet(name), created: true };
    });
    return tx.immediate();
  }

  /**
   * Completes a node's identity from what its DHCP packet showed: a Pi registered by MAC asks TFTP
   * for `<serial>/…`, one registered by serial may be asked for by MAC. Never takes an identity
   * another node holds; returns true when something was learned.
   */
  learnIdentity(name: string, mac: string, serial: string | undefined): boolean {
    const tx = this.db.transaction((): boolean => {
      const n = this.get(name);
      if (!n) return false;
      let learned = false;
      if (!n.mac && !this.byMac(mac)) {
        this.db.prepare('UPDATE nodes SET mac = ? WHERE name = ?').run(mac, name);
        learned = true;
      }
      if (!n.serial && serial && !this.bySerial(serial)) {
        this.db.prepare('UPDATE nodes SET serial = ? WHERE name = ?').run(serial, name);
        learned = true;
      }
      if (learned) this.appendEvent(name, 'updated', { learned: { mac, serial: serial ?? null } }, this.stamp());
      return learned;
    });
    return tx.immediate();
  }

  /**
   * Records the board a node's DHCP request named (the decision only asks when it differs from
   * the record). No event of its own: the `dhcp-seen` event of the same request carries the model.
   * Returns true when the row changed.
   */
  learnBoard(name: string, b: NodeBoard): boolean {
    // Decided in SQL: a DISCOVER that repeats what is on record writes (and syncs) nothing.
    const r = this.db
      .prepare('UPDATE nodes SET model = ?, board_revision = ? WHERE name = ? AND (model IS NOT ? OR board_revision IS NOT ?)')
      .run(b.model, b.boardRevision, name, b.model, b.boardRevision);
    return r.changes > 0;
  }

  /**
   * A node asked for one of its boot files. Only the time is kept: a TFTP read proves nothing about
   * who asked, so it never binds the node's address.
   */
  seen(name: string): void {
    // Coarse: a flood of requests naming a node is not a write (and an fsync) each; an UPDATE that
    // matches no row commits nothing. Decided in SQL: `kiln node` may have re-created the node.
    const now = this.now();
    this.db
      .prepare('UPDATE nodes SET last_seen = ? WHERE name = ? AND (last_seen IS NULL OR last_seen < ?)')
      .run(now.toISOString(), name, new Date(now.getTime() - TOUCH_EVERY_MS).toISOString());
  }

  /** Full DHCP mode: kiln itself leased this address to the node's MAC. */
  leased(name: string, ip: string): void {
    this.db.prepare('UPDATE nodes SET last_seen = ?, ip = ?, leased_ip = ? WHERE name = ?').run(this.stamp(), ip, ip, name);
  }

  /** The node reported with its own credential from this address: Ansible and k3s agents use it. */
  bindAddress(name: string, ip: string): void {
    this.db.prepare('UPDATE nodes SET last_seen = ?, ip = ? WHERE name = ?').run(this.stamp(), ip, name);
  }

  /** A new install starts: a fresh one-use install token, not yet served (so not yet expiring). */
  private beginInstall(name: string, needsPrevious: boolean): void {
    this.db
      .prepare('UPDATE nodes SET install_token = ?, install_expires = NULL, install_used = NULL, install_needs_previous = ? WHERE name = ?')
      .run(newSecret(), needsPrevious ? 1 : 0, name);
  }

  /**
   * The install token to render into the node's kernel command line. Serving it starts its
   * lifetime; an unused token that expired is replaced. A used one is returned as it is: the
   * installer's second enrolment with it is refused and raised, until the operator reprovisions.
   */
  installTokenFor(name: string): string | undefined {
    const tx = this.db.transaction((): string | undefined => {
      const r = this.db.prepare('SELECT plan, parked, install_token, install_expires, install_used FROM nodes WHERE name = ?').get(name) as
        | Pick<NodeRow, 'plan' | 'parked' | 'install_token' | 'install_expires' | 'install_used'>
        | undefined;
      if (r?.plan !== 'install' || r.parked) return undefined;
      const now = this.now();
      const fresh = new Date(now.getTime() + INSTALL_TOKEN_TTL_MS).toISOString();
      if (!r.install_token || (!r.install_used && r.install_expires && Date.parse(r.install_expires) <= now.getTime())) {
        const t = newSecret();
        this.db.prepare('UPDATE nodes SET install_token = ?, install_expires = ?, install_used = NULL WHERE name = ?').run(t, fresh, name);
        return t;
      }
      if (!r.install_expires && !r.install_used) this.db.prepare('UPDATE nodes SET install_expires = ? WHERE name = ?').run(fresh, name);
      return r.install_token;
    });
    return tx.immediate();
  }

  /**
   * Trades the install token for the node's credential (once). Refusals that suggest someone else
   * holds the token are recorded as `alert` events.
   */
  enroll(name: string, req: EnrollRequest): { decision: EnrollDecision; credential?: string } {
    const tx = this.db.transaction((): { decision: EnrollDecision; credential?: string } => {
      const r = this.db.prepare('SELECT * FROM nodes WHERE name = ?').get(name) as NodeRow | undefined;
      if (!r) throw new RegistryError(`no node named ${name}`, 'not-found');
      const decision = decideEnroll(
        {
          plan: r.plan,
          parked: r.parked !== null,
          installToken: r.install_token,
          expires: r.install_expires,
          used: r.install_used,
          needsPrevious: r.install_needs_previous === 1,
          credentialHash: r.credential_hash,
          leasedIp: r.leased_ip,
        },
        req,
        this.now(),
      );
      const at = this.stamp();
      if (!decision.ok) {
        if (decision.alert) this.appendEvent(name, 'alert', { kind: `enrol-${decision.why}`, ip: req.ip, message: decision.message }, at);
        return { decision };
      }
      const credential = newSecret();
      this.db.prepare('UPDATE nodes SET credential_hash = ?, install_used = ? WHERE name = ?').run(secretHash(credential), at, name);
      this.appendEvent(name, 'enrolled', { ip: req.ip, selfHeal: r.install_needs_previous === 1 }, at);
      return { decision, credential };
    });
    return tx.immediate();
  }

  /** Whether `secret` is the node's current credential. */
  hasCredential(name: string, secret: string): boolean {
    const r = this.db.prepare('SELECT credential_hash FROM nodes WHERE name = ?').get(name) as { credential_hash: string | null } | undefined;
    return !!r?.credential_hash && sameSecret(secretHash(secret), r.credential_hash);
  }

  /**
   * An event any host can cause without a credential (a DISCOVER naming the node, a TFTP fetch of
   * its files): aggregated (see ActivityAggregator), so it is written at once only when it is the
   * first of its window. Returns whether it was written or folded into a later row.
   */
  activity(node: string, type: AggregatedType, data: Record<string, unknown>, opts: { key?: string; source?: string } = {}): 'written' | 'folded' {
    const o: Occurrence = { node, type, data, ...opts };
    const rows = this.activityLog.offer(o, this.now().getTime());
    this.writeActivity(rows);
    return rows.length === 0 ? 'folded' : 'written';
  }

  /** Writes the aggregates whose window has ended (the service calls this periodically). */
  flushActivity(): number {
    const rows = this.activityLog.due(this.now().getTime());
    this.writeActivity(rows);
    return rows.length;
  }

  private writeActivity(rows: ActivityWrite[]): void {
    if (rows.length === 0) return;
    const at = this.stamp();
    this.batch(() => {
      for (const r of rows) this.appendEvent(r.node, r.type, r.data, at);
    });
  }

  /**
   * Deletes activity events the retention no longer keeps (PRUNABLE_TYPES: dhcp-seen, file-fetched,
   * discovered, ...), never a state change; returns how many went. The only DELETE the events
   * trigger lets through, and only inside this transaction (see DELETE_TRIGGER_SQL).
   */
  pruneEvents(retention: EventRetention): number {
    if (retention.kind === 'forever') return 0;
    return this.batch(() => {
      this.db.prepare('UPDATE retention_gate SET open = 1 WHERE id = 1').run();
      const deleted =
        retention.kind === 'age'
          ? this.db.prepare(`DELETE FROM events WHERE type IN (${prunableList}) AND at < ?`).run(new Date(this.now().getTime() - retention.ms).toISOString())
              .changes
          : this.db
              .prepare(
                `DELETE FROM events WHERE type IN (${prunableList}) AND id < (
                   SELECT id FROM events WHERE type IN (${prunableList}) ORDER BY id DESC LIMIT 1 OFFSET ?)`,
              )
              .run(retention.events - 1).changes;
      this.db.prepare('UPDATE retention_gate SET open = 0 WHERE id = 1').run();
      return deleted;
    });
  }

  /** Appends an event and applies the state change it implies, atomically. */
  record(name: string, type: RecordedType, data: Record<string, unknown> = {}): NodeEvent {
    const tx = this.db.transaction((): NodeEvent => {
      const n = this.mustGet(name);
      const at = this.stamp();
      const next = stateAfter(type, n.state);
      if (next !== n.state) this.db.prepare('UPDATE nodes SET state = ? WHERE name = ?').run(next, name);
      // Once installed, netboot must not reinstall it again on the next power cycle.
      if (type === 'installed') this.db.prepare("UPDATE nodes SET plan = 'local' WHERE name = ?").run(name);
      const event = this.appendEvent(name, type, data, at);
      if (type === 'install-failed' && !n.parked) {
        const failed = failedInARow(this.decisionHistory(name));
        if (failed >= MAX_FAILED_INSTALLS) this.parkIn(name, `${failed} failed installs in a row; last: ${String(data.message ?? 'no reason given')}`, at);
      }
      return event;
    });
    return tx.immediate();
  }

  /** Stops answering a node until the operator reprovisions or unparks it; flagged in its state and events. */
  park(name: string, reason: string): NodeRecord {
    const tx = this.db.transaction((): NodeRecord => {
      this.mustGet(name);
      this.parkIn(name, reason, this.stamp());
      return this.mustGet(name);
    });
    return tx.immediate();
  }

  /**
   * Answers a parked node again under its current plan, without the new install a reprovision
   * starts. `unparked` resets the failure count (failedInARow), or the next failed install would
   * park it again at once. Its state before the park is not kept: it is `registered` again.
   */
  unpark(name: string): NodeRecord {
    const tx = this.db.transaction((): NodeRecord => {
      const n = this.mustGet(name);
      if (!n.parked) throw new RegistryError(`node ${name} is not parked`, 'conflict');
      this.db.prepare("UPDATE nodes SET parked = NULL, state = 'registered' WHERE name = ?").run(name);
      this.appendEvent(name, 'unparked', { reason: n.parked }, this.stamp());
      return this.mustGet(name);
    });
    return tx.immediate();
  }

  /**
   * Changes the given per-node settings in place; the `updated` event names the changed fields
   * with their new values (none changed: no event). Nodes from nodes.yaml are changed there.
   */
  updateSettings(name: string, s: NodeSettings): NodeRecord {
    const tx = this.db.transaction((): NodeRecord => {
      const n = this.mustGet(name);
      if (n.source === 'yaml') throw new RegistryError(`node ${name} is declared in nodes.yaml; change it there`, 'forbidden');
      if (n.plan === 'discovered') throw new RegistryError(`node ${name} is only discovered; approve (register) it first`, 'conflict');
      const changed: Record<string, unknown> = {};
      if (s.disk !== undefined && s.disk !== (n.disk ?? null)) {
        this.db.prepare('UPDATE nodes SET disk = ? WHERE name = ?').run(s.disk, name);
        changed.disk = s.disk;
      }
      if (s.selfHeal !== undefined && s.selfHeal !== (n.selfHeal ?? false)) {
        this.db.prepare('UPDATE nodes SET self_heal = ? WHERE name = ?').run(s.selfHeal ? 1 : 0, name);
        changed.selfHeal = s.selfHeal;
      }
      if (s.configTxt !== undefined && JSON.stringify(s.configTxt) !== JSON.stringify(n.configTxt ?? [])) {
        this.db.prepare('UPDATE nodes SET config_txt = ? WHERE name = ?').run(s.configTxt.length > 0 ? JSON.stringify(s.configTxt) : null, name);
        changed.configTxt = s.configTxt;
      }
      if (Object.keys(changed).length > 0) this.appendEvent(name, 'updated', { source: 'api', changed }, this.stamp());
      return this.mustGet(name);
    });
    return tx.immediate();
  }

  /**
   * Registers a discovered Pi under the operator's name with the placeholder's serial and MAC. The
   * placeholder gives way as in upsert (its board carried over); under another name it also gets a
   * `removed` event naming the new node, so a timeline or live view sees where it went.
   */
  approve(placeholder: string, input: Omit<NodeInput, 'serial' | 'mac'>): NodeRecord {
    return this.batch((): NodeRecord => {
      const p = this.mustGet(placeholder);
      if (p.plan !== 'discovered') throw new RegistryError(`node ${placeholder} is not a discovered Pi (its plan is ${p.plan})`, 'conflict');
      const identity = { serial: p.serial ?? undefined, mac: p.mac ?? undefined };
      if (input.name === placeholder) {
        // upsert would update the placeholder in place: replace it instead, so the node starts as
        // any registered one does (registered event, provision id, install token).
        this.db.prepare('DELETE FROM nodes WHERE name = ?').run(placeholder);
        const node = this.upsert({ ...input, ...identity });
        if (p.model !== null && p.model !== undefined) this.learnBoard(node.name, { model: p.model, boardRevision: p.boardRevision ?? null });
        return this.mustGet(node.name);
      }
      if (this.get(input.name)) throw new RegistryError(`a node named ${input.name} exists already`, 'conflict');
      const node = this.upsert({ ...input, ...identity });
      this.appendEvent(placeholder, 'removed', { reason: 'approved', as: node.name }, this.stamp());
      return node;
    });
  }

  private parkIn(name: string, reason: string, at: string): void {
    this.db.prepare("UPDATE nodes SET parked = ?, state = 'failed' WHERE name = ?").run(reason, name);
    this.appendEvent(name, 'parked', { reason }, at);
  }

  /**
   * A `local` node netbooted: its disk did not boot. Switch it to `install` and record why, so the
   * TFTP and HTTP paths serve it the installer.
   */
  selfHeal(name: string, reason: string): NodeRecord {
    const tx = this.db.transaction((): NodeRecord => {
      this.mustGet(name);
      this.db.prepare("UPDATE nodes SET plan = 'install', state = 'registered' WHERE name = ?").run(name);
      // Anyone can send the PXE DISCOVER that got us here: the installer must show the old disk's credential.
      this.beginInstall(name, true);
      this.appendEvent(name, 'self-heal', { reason }, this.stamp());
      return this.mustGet(name);
    });
    return tx.immediate();
  }

  private appendEvent(node: string, type: EventType, data: Record<string, unknown>, at: string): NodeEvent {
    const r = this.db.prepare('INSERT INTO events (node, type, at, data) VALUES (?, ?, ?, ?)').run(node, type, at, JSON.stringify(data));
    return { id: Number(r.lastInsertRowid), node, type, at, data };
  }

  /**
   * Events, oldest first. With `afterId`: the first `limit` events after that id (a client pages
   * forward, or polls, from its last id). Without: the newest `limit` (recent history).
   */
  events(filter: EventFilter = {}): NodeEvent[] {
    return this.readEvents(filter, clampLimit(filter.limit));
  }

  /**
   * One page of `events()` with the cursor for the next call: `next` is the id of the last event
   * returned (or `afterId` again when there is none yet), `more` whether events after it exist.
   */
  eventPage(filter: EventFilter = {}): { events: NodeEvent[]; next: number; more: boolean } {
    const limit = clampLimit(filter.limit);
    if (filter.afterId === undefined) {
      const events = this.readEvents(filter, limit);
      return { events, next: events.at(-1)?.id ?? 0, more: false };
    }
    const rows = this.readEvents(filter, limit + 1);
    const events = rows.slice(0, limit);
    return { events, next: events.at(-1)?.id ?? filter.afterId, more: rows.length > limit };
  }

  private readEvents(filter: EventFilter, limit: number): NodeEvent[] {
    const node = filter.node ?? null;
    const rows =
      filter.afterId === undefined
        ? (this.db.prepare('SELECT * FROM events WHERE (? IS NULL OR node = ?) ORDER BY id DESC LIMIT ?').all(node, node, limit) as EventRow[]).reverse()
        : (this.db
            .prepare('SELECT * FROM events WHERE (? IS NULL OR node = ?) AND id > ? ORDER BY id ASC LIMIT ?')
            .all(node, node, filter.afterId, limit) as EventRow[]);
    return rows.map((r) => ({
      id: r.id,
      node: r.node,
      type: r.type as EventType,
      at: r.at,
      data: JSON.parse(r.data) as Record<string, unknown>,
    }));
  }

  /** The node's install milestones (DECISION_EVENTS), oldest first, however many other events it has. */
  decisionHistory(name: string): { type: EventType }[] {
    const marks = DECISION_EVENTS.map(() => '?').join(', ');
    const rows = this.db.prepare(`SELECT type FROM events WHERE node = ? AND type IN (${marks}) ORDER BY id DESC LIMIT 1000`).all(name, ...DECISION_EVENTS) as {
      type: string;
    }[];
    return rows.reverse().map((r) => ({ type: r.type as EventType }));
  }

  /**
   * The latest `install-progress` of every node that is installing now, in one query: per node the
   * index on (node, id) is walked back from the newest event to the first match. A report from an
   * earlier install (before the last `install-started`) does not count.
   */
  latestInstallProgress(): { node: string; at: string; data: Record<string, unknown> }[] {
    const rows = this.db
      .prepare(
        `SELECT e.node AS node, e.at AS at, e.data AS data FROM nodes n
         JOIN events e ON e.id = (SELECT id FROM events WHERE node = n.name AND type = 'install-progress' ORDER BY id DESC LIMIT 1)
         WHERE n.state = 'installing'
           AND e.id > COALESCE((SELECT id FROM events WHERE node = n.name AND type = 'install-started' ORDER BY id DESC LIMIT 1), 0)`,
      )
      .all() as { node: string; at: string; data: string }[];
    return rows.map((r) => ({ node: r.node, at: r.at, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  /** The newest event's id (0 when there is none): read before a list, it is where a stream resumes. */
  lastEventId(): number {
    return (this.db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM events').get() as { id: number }).id;
  }

  countByState(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM nodes GROUP BY state').all() as {
      state: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}

export interface EventFilter {
  node?: string;
  afterId?: number;
  limit?: number;
}

/** Reads return 1..1000 events (100 when not given): one answer never holds the whole log. */
function clampLimit(limit: number | undefined): number {
  return Math.min(Math.max(limit ?? 100, 1), 1000);
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
