import { KilnError } from '../../../util/errors.js';
import type { SqlQueries, SqlStore, SqlValue } from './sql.js';

// `kiln registry export | import`: the registry's rows as JSON lines, so an operator moves from the
// embedded SQLite store to PostgreSQL (or back, or to a new machine) without losing a node, a
// credential hash or an event. Rows go over as they are stored, column by column, with their
// event ids: a node's provision id (its cloud-init instance-id) names an event id, and a dashboard
// or `kiln node` stream resumes after an event id, so ids must survive the move unchanged.

export const EXPORT_FORMAT = 1;

/** Every column of `nodes`, the same in both backends (a test holds both schemas to this list). */
export const NODE_COLUMNS = [
  'name',
  'serial',
  'mac',
  'role',
  'image',
  'plan',
  'state',
  'ssh_keys',
  'cluster_init',
  'ip',
  'last_seen',
  'source',
  'report_token',
  'created_at',
  'self_heal',
  'parked',
  'disk',
  'provision_id',
  'install_token',
  'install_expires',
  'install_used',
  'install_needs_previous',
  'credential_hash',
  'leased_ip',
  'model',
  'board_revision',
  'config_txt',
] as const;

/** Every column of `events`, likewise held to both schemas by a test. */
export const EVENT_COLUMNS = ['id', 'node', 'type', 'at', 'data', 'agent'] as const;

const REQUIRED_NODE_COLUMNS = ['name', 'role', 'plan', 'state', 'source', 'created_at'] as const;

export interface ExportHeader {
  kiln: 'registry-export';
  format: number;
  schemaVersion: number;
  source: SqlStore['kind'];
}

export interface EventRowOut {
  id: number;
  node: string;
  type: string;
  at: string;
  /** The stored JSON text, byte for byte. */
  data: string;
  /** The serving agent that wrote it; null for events from the CLI or an older kiln. */
  agent: string | null;
}

export type ExportLine = { header: ExportHeader } | { node: Record<string, SqlValue> } | { event: EventRowOut } | { end: { nodes: number; events: number } };

const PAGE = 1000;

/**
 * The whole registry as lines, read inside one transaction so nodes and events are one consistent
 * moment (it holds the store's write lock while it reads: writers wait, none fail, for a registry
 * of a few hundred nodes that is well under a second).
 */
export async function exportRegistry(store: SqlStore, emit: (line: ExportLine) => Promise<void>): Promise<{ nodes: number; events: number }> {
  const schemaVersion = await store.schemaVersion();
  return store.transaction(async (tx) => {
    await emit({ header: { kiln: 'registry-export', format: EXPORT_FORMAT, schemaVersion, source: store.kind } });
    const nodes = await tx.all<Record<string, SqlValue>>(`SELECT ${NODE_COLUMNS.join(', ')} FROM nodes ORDER BY name`);
    for (const n of nodes) await emit({ node: n });
    let events = 0;
    let after = 0;
    for (;;) {
      const page = await tx.all<EventRowOut>(`SELECT ${EVENT_COLUMNS.join(', ')} FROM events WHERE id > ? ORDER BY id LIMIT ?`, [after, PAGE]);
      for (const e of page) await emit({ event: { id: Number(e.id), node: e.node, type: e.type, at: e.at, data: e.data, agent: e.agent ?? null } });
      events += page.length;
      if (page.length < PAGE) break;
      after = Number(page[page.length - 1]?.id);
    }
    const end = { nodes: nodes.length, events };
    await emit({ end });
    return end;
  });
}

export class ImportError extends KilnError {}

function fail(lineNo: number, what: string): never {
  throw new ImportError(`registry import, line ${lineNo}: ${what}`, {
    hint: 'the file must be the unchanged output of `kiln registry export`; nothing was imported',
  });
}

function isSqlValue(v: unknown): v is SqlValue {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

const KNOWN = new Set<string>(NODE_COLUMNS);

/** Checks one parsed line; returns it typed. Pure, so the validation is tested without a database. */
export function parseExportLine(text: string, lineNo: number): ExportLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    fail(lineNo, 'not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(lineNo, 'not a JSON object');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 1) fail(lineNo, `expected one of header, node, event, end; got ${keys.join(', ') || 'nothing'}`);
  const body = o[keys[0] as string];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail(lineNo, `${keys[0]} is not an object`);
  const b = body as Record<string, unknown>;
  switch (keys[0]) {
    case 'header': {
      if (b.kiln !== 'registry-export') fail(lineNo, 'not a kiln registry export');
      if (b.format !== EXPORT_FORMAT) fail(lineNo, `format ${String(b.format)}; this kiln reads format ${EXPORT_FORMAT}`);
      if (typeof b.schemaVersion !== 'number' || (b.source !== 'sqlite' && b.source !== 'postgres')) fail(lineNo, 'header without schemaVersion or source');
      return { header: { kiln: 'registry-export', format: EXPORT_FORMAT, schemaVersion: b.schemaVersion, source: b.source } };
    }
    case 'node': {
      for (const [k, val] of Object.entries(b)) {
        if (!KNOWN.has(k)) fail(lineNo, `unknown node column ${JSON.stringify(k)}`);
        if (!isSqlValue(val)) fail(lineNo, `node column ${k} is not text, a number or null`);
      }
      for (const k of REQUIRED_NODE_COLUMNS) if (typeof b[k] !== 'string') fail(lineNo, `node without ${k}`);
      return { node: b as Record<string, SqlValue> };
    }
    case 'event': {
      const { id, node, type, at, data, agent } = b;
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) fail(lineNo, 'event id is not a positive integer');
      if (typeof node !== 'string' || typeof type !== 'string' || typeof at !== 'string' || typeof data !== 'string') {
        fail(lineNo, 'event without node, type, at or data text');
      }
      if (agent !== undefined && agent !== null && typeof agent !== 'string') fail(lineNo, 'event agent is not text or null');
      return { event: { id, node, type, at, data, agent: agent ?? null } };
    }
    case 'end': {
      if (typeof b.nodes !== 'number' || typeof b.events !== 'number') fail(lineNo, 'end without counts');
      return { end: { nodes: b.nodes, events: b.events } };
    }
    default:
      fail(lineNo, `unknown line kind ${JSON.stringify(keys[0])}`);
  }
}

async function isEmpty(tx: SqlQueries): Promise<boolean> {
  const n = await tx.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM nodes');
  const e = await tx.get<{ n: number }>('SELECT CAST(COUNT(*) AS INTEGER) AS n FROM events');
  return Number(n?.n) === 0 && Number(e?.n) === 0;
}

/**
 * Loads an export into an empty store, all or nothing: one transaction, committed only after the
 * end line's counts matched what was read (a truncated file imports nothing). Refuses a store
 * that already holds nodes or events: merging two registries is a decision, not a side effect.
 */
export async function importRegistry(store: SqlStore, lines: AsyncIterable<string>): Promise<{ nodes: number; events: number }> {
  return store.transaction(async (tx) => {
    if (!(await isEmpty(tx))) {
      throw new ImportError(`the target registry (${store.kind}) already holds nodes or events`, {
        hint: 'import into a new, empty store; nothing was imported',
      });
    }
    let lineNo = 0;
    let header: ExportHeader | undefined;
    let end: { nodes: number; events: number } | undefined;
    let nodes = 0;
    let events = 0;
    let lastId = 0;
    for await (const text of lines) {
      lineNo++;
      if (text.trim() === '') continue;
      if (end) fail(lineNo, 'text after the end line');
      const line = parseExportLine(text, lineNo);
      if ('header' in line) {
        if (header) fail(lineNo, 'a second header');
        header = line.header;
        continue;
      }
      if (!header) fail(lineNo, 'the file does not start with a header');
      if ('node' in line) {
        if (events > 0) fail(lineNo, 'a node after the events');
        const cols = Object.keys(line.node);
        await tx.run(
          `INSERT INTO nodes (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
          cols.map((c) => line.node[c] ?? null),
        );
        nodes++;
      } else if ('event' in line) {
        if (line.event.id <= lastId) fail(lineNo, `event id ${line.event.id} is not after ${lastId}`);
        lastId = line.event.id;
        const e = line.event;
        await tx.run('INSERT INTO events (id, node, type, at, data, agent) VALUES (?, ?, ?, ?, ?, ?)', [e.id, e.node, e.type, e.at, e.data, e.agent]);
        events++;
      } else {
        end = line.end;
      }
    }
    if (!header) fail(lineNo, 'empty file');
    if (!end) fail(lineNo, 'the file ends without its end line (truncated?)');
    if (end.nodes !== nodes || end.events !== events)
      fail(lineNo, `the end line counts ${end.nodes} nodes and ${end.events} events; the file holds ${nodes} and ${events}`);
    // PostgreSQL's identity does not follow explicit ids (SQLite's AUTOINCREMENT does): without this
    // the next event would reuse id 1.
    if (store.kind === 'postgres' && lastId > 0) await tx.get("SELECT setval(pg_get_serial_sequence('events', 'id'), ?)", [lastId]);
    return { nodes, events };
  });
}
