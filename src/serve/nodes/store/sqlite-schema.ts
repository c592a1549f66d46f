import type Database from 'better-sqlite3';
import { PRUNABLE_TYPES } from '../activity.js';
import { KilnError } from '../../../util/errors.js';

// The registry's tables as SQLite holds them, and how a database made by an older kiln is brought
// up to date on open. The PostgreSQL backend has its own DDL for the same tables.

/**
 * PRAGMA user_version of a database this code made or upgraded. Databases from before versioning
 * read 0: every step below is idempotent, so they are upgraded the same way as an empty file.
 */
export const SQLITE_SCHEMA_VERSION = 2;

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
CREATE TABLE IF NOT EXISTS agents (
  name TEXT PRIMARY KEY,
  network TEXT NOT NULL,
  images TEXT NOT NULL,
  started_at TEXT NOT NULL,
  seen_at TEXT NOT NULL
);
`;

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

const prunableList = PRUNABLE_TYPES.map((t) => `'${t}'`).join(', ');

/**
 * Events are append-only, with one way out: the retention (NodeRegistry.pruneEvents) deletes old
 * *activity* rows. The trigger lets a DELETE through only when both hold: the row is of a prunable
 * type, and retention_gate.open is 1. pruneEvents sets it to 1, deletes and sets it back to 0
 * inside one transaction, so no other statement or connection ever sees it open (a failed delete
 * rolls the flag back with it). A state change (registered, install-*, parked, ...) cannot be
 * deleted even then; a missing gate row reads as closed. Versioned by name: a database made by an
 * older kiln has the unconditional `events_append_only_d`, replaced on open.
 */
const DELETE_TRIGGER = 'events_delete_by_retention_v1';
const DELETE_TRIGGER_SQL = `
CREATE TRIGGER ${DELETE_TRIGGER} BEFORE DELETE ON events
  WHEN OLD.type NOT IN (${prunableList}) OR (SELECT open FROM retention_gate WHERE id = 1) IS NOT 1
  BEGIN SELECT RAISE(ABORT, 'events are append-only (only the retention removes old activity, never a state change)'); END;`;

/** Creates or upgrades the registry's tables; runs once per open, before any other statement. */
export function migrateSqlite(db: Database.Database): void {
  const version = Number(db.pragma('user_version', { simple: true }));
  if (version > SQLITE_SCHEMA_VERSION) {
    // An older kiln must not half-understand a newer layout (and then write rows it cannot read).
    throw new KilnError(`the registry database has schema version ${version}; this kiln knows up to ${SQLITE_SCHEMA_VERSION}: upgrade kiln`);
  }
  db.exec(SCHEMA);
  const have = new Set((db.prepare('PRAGMA table_info(nodes)').all() as { name: string }[]).map((c) => c.name));
  for (const [col, def] of ADDED_COLUMNS) if (!have.has(col)) db.exec(`ALTER TABLE nodes ADD COLUMN ${col} ${def}`);
  const eventCols = new Set((db.prepare('PRAGMA table_info(events)').all() as { name: string }[]).map((c) => c.name));
  // Version 2: which serving agent wrote an event (NULL for older rows and the CLI's own).
  if (!eventCols.has('agent')) db.exec('ALTER TABLE events ADD COLUMN agent TEXT');
  migrateDeleteTrigger(db);
  if (version < SQLITE_SCHEMA_VERSION) db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
}

function migrateDeleteTrigger(db: Database.Database): void {
  const has = (name: string): boolean => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?").get(name) !== undefined;
  if (has(DELETE_TRIGGER) && !has('events_append_only_d')) return;
  db.transaction(() => {
    db.exec('DROP TRIGGER IF EXISTS events_append_only_d');
    if (!has(DELETE_TRIGGER)) db.exec(DELETE_TRIGGER_SQL);
  }).immediate();
}
