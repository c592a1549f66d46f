import type { TokenBucket } from './activity.js';
import { sameSecret, secretHash } from './enrollment.js';
import { DECISION_EVENTS, type EventType, type NodeEvent, type NodeRecord } from './model.js';
import { RegistryError, toEvent, toRecord, type EventRow, type NodeRow } from './registry-rows.js';
import type { SqlQueries, SqlValue } from './store/sql.js';

// The registry's reads, on the store or inside a transaction (RegistryTx adds the changes).
// SQL is the subset SQLite and PostgreSQL read alike (see store/sql.ts).

/** What outlives one transaction: the clock and the discovery limits (in-process). */
export interface RegistryContext {
  now: () => Date;
  discovery: { max: number; bucket: TokenBucket };
  /** Written on every event this process appends: which serving agent (and so which network) it came from. */
  agent: string | null;
}

export interface EventFilter {
  node?: string;
  afterId?: number;
  limit?: number;
}

export class RegistryReads {
  constructor(
    protected readonly q: SqlQueries,
    protected readonly c: RegistryContext,
  ) {}

  protected async node(sql: string, params: SqlValue[]): Promise<NodeRecord | undefined> {
    const r = await this.q.get<NodeRow>(sql, params);
    return r && toRecord(r);
  }

  async list(): Promise<NodeRecord[]> {
    return (await this.q.all<NodeRow>('SELECT * FROM nodes ORDER BY name')).map(toRecord);
  }

  get(name: string): Promise<NodeRecord | undefined> {
    return this.node('SELECT * FROM nodes WHERE name = ?', [name]);
  }

  async mustGet(name: string): Promise<NodeRecord> {
    const n = await this.get(name);
    if (!n) throw new RegistryError(`no node named ${name}`, 'not-found');
    return n;
  }

  byMac(mac: string): Promise<NodeRecord | undefined> {
    return this.node('SELECT * FROM nodes WHERE mac = ?', [mac.toLowerCase()]);
  }

  bySerial(serial: string): Promise<NodeRecord | undefined> {
    return this.node('SELECT * FROM nodes WHERE serial = ?', [serial.toLowerCase()]);
  }

  byIp(ip: string): Promise<NodeRecord | undefined> {
    // NULLS LAST spelled out: SQLite sorts NULL last in DESC already, PostgreSQL first.
    return this.node('SELECT * FROM nodes WHERE ip = ? ORDER BY last_seen DESC NULLS LAST LIMIT 1', [ip]);
  }

  /** TFTP prefix: serial (8 hex digits) or MAC with dashes. */
  byPrefix(prefix: string): Promise<NodeRecord | undefined> {
    const p = prefix.toLowerCase();
    return /^[0-9a-f]{8}$/.test(p) ? this.bySerial(p) : this.byMac(p.replaceAll('-', ':'));
  }

  /** Finds the node a DHCP client is: a registered MAC first, then the serial from option 97. */
  async find(mac: string, serial?: string): Promise<NodeRecord | undefined> {
    return (await this.byMac(mac)) ?? (serial ? await this.bySerial(serial) : undefined);
  }

  async hasCredential(name: string, secret: string): Promise<boolean> {
    const r = await this.q.get<{ credential_hash: string | null }>('SELECT credential_hash FROM nodes WHERE name = ?', [name]);
    return !!r?.credential_hash && sameSecret(secretHash(secret), r.credential_hash);
  }

  /** See NodeRegistry.events; `limit` is already clamped. */
  async readEvents(filter: EventFilter, limit: number): Promise<NodeEvent[]> {
    // One statement per shape: PostgreSQL cannot type `? IS NULL` for an untyped NULL parameter.
    const { node, afterId } = filter;
    let rows: EventRow[];
    if (afterId === undefined) {
      rows = (
        node === undefined
          ? await this.q.all<EventRow>('SELECT * FROM events ORDER BY id DESC LIMIT ?', [limit])
          : await this.q.all<EventRow>('SELECT * FROM events WHERE node = ? ORDER BY id DESC LIMIT ?', [node, limit])
      ).reverse();
    } else {
      rows =
        node === undefined
          ? await this.q.all<EventRow>('SELECT * FROM events WHERE id > ? ORDER BY id ASC LIMIT ?', [afterId, limit])
          : await this.q.all<EventRow>('SELECT * FROM events WHERE node = ? AND id > ? ORDER BY id ASC LIMIT ?', [node, afterId, limit]);
    }
    return rows.map(toEvent);
  }

  /** See NodeRegistry.decisionHistory. */
  async decisionHistory(name: string): Promise<{ type: EventType }[]> {
    const marks = DECISION_EVENTS.map(() => '?').join(', ');
    const rows = await this.q.all<{ type: string }>(`SELECT type FROM events WHERE node = ? AND type IN (${marks}) ORDER BY id DESC LIMIT 1000`, [
      name,
      ...DECISION_EVENTS,
    ]);
    return rows.reverse().map((r) => ({ type: r.type as EventType }));
  }

  /** See NodeRegistry.latestInstallProgress. */
  async latestInstallProgress(): Promise<{ node: string; at: string; data: Record<string, unknown> }[]> {
    const rows = await this.q.all<{ node: string; at: string; data: string }>(
      `SELECT e.node AS node, e.at AS at, e.data AS data FROM nodes n
       JOIN events e ON e.id = (SELECT id FROM events WHERE node = n.name AND type = 'install-progress' ORDER BY id DESC LIMIT 1)
       WHERE n.state = 'installing'
         AND e.id > COALESCE((SELECT id FROM events WHERE node = n.name AND type = 'install-started' ORDER BY id DESC LIMIT 1), 0)`,
    );
    return rows.map((r) => ({ node: r.node, at: r.at, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  async lastEventId(): Promise<number> {
    const r = await this.q.get<{ id: number | string }>('SELECT COALESCE(MAX(id), 0) AS id FROM events');
    return Number(r?.id ?? 0);
  }

  async count(): Promise<number> {
    const r = await this.q.get<{ n: number | string }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM nodes');
    return Number(r?.n ?? 0);
  }

  async countByState(): Promise<Record<string, number>> {
    const rows = await this.q.all<{ state: string; n: number | string }>('SELECT state, CAST(COUNT(*) AS INTEGER) AS n FROM nodes GROUP BY state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Whether migrateSecrets has work (read first, so an up-to-date database opens without a write transaction). */
  async needsSecretMigration(): Promise<boolean> {
    const r = await this.q.get<{ one: number }>("SELECT 1 AS one FROM nodes WHERE report_token != '' OR provision_id IS NULL LIMIT 1");
    return r !== undefined;
  }
}
