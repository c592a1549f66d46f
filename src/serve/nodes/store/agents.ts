import { KilnError } from '../../../util/errors.js';
import type { SqlQueries, SqlStore } from './sql.js';

// Serving agents that share one store: each `kiln serve` names itself and the network it serves,
// and publishes the images it serves by sha256. A node may be served by any agent that sees it
// boot, so an image name must mean the same bytes on every agent: a second agent that would
// serve other bytes under a name a live agent serves refuses to start.

export interface AgentImage {
  name: string;
  sha256: string;
}

export interface AgentInfo {
  name: string;
  /** What the agent serves, for people: its interface and address, e.g. "eth1 10.0.0.1". */
  network: string;
  images: AgentImage[];
}

export interface AgentRow extends AgentInfo {
  startedAt: string;
  seenAt: string;
}

/** An agent is live while its heartbeat (every HEARTBEAT_MS) is younger than this. */
export const AGENT_LIVE_MS = 90_000;
export const HEARTBEAT_MS = 20_000;

interface Row {
  name: string;
  network: string;
  images: string;
  started_at: string;
  seen_at: string;
}

function toAgent(r: Row): AgentRow {
  return { name: r.name, network: r.network, images: JSON.parse(r.images) as AgentImage[], startedAt: r.started_at, seenAt: r.seen_at };
}

/** Pure: the images two agents disagree on (same name, other bytes). */
export function imageConflicts(mine: readonly AgentImage[], theirs: readonly AgentImage[]): { name: string; mine: string; theirs: string }[] {
  const other = new Map(theirs.map((i) => [i.name, i.sha256]));
  return mine.flatMap((i) => {
    const t = other.get(i.name);
    return t !== undefined && t !== i.sha256 ? [{ name: i.name, mine: i.sha256, theirs: t }] : [];
  });
}

export async function listAgents(q: SqlQueries): Promise<AgentRow[]> {
  return (await q.all<Row>('SELECT name, network, images, started_at, seen_at FROM agents ORDER BY name')).map(toAgent);
}

/**
 * Records this agent as started, after checking its images against every live agent's, in one
 * transaction (two agents starting at once are serialized by the store's write lock, so the
 * second sees the first).
 */
export async function registerAgent(store: SqlStore, me: AgentInfo, now: Date): Promise<void> {
  await store.transaction(async (tx) => {
    const live = (await listAgents(tx)).filter((a) => a.name !== me.name && now.getTime() - Date.parse(a.seenAt) < AGENT_LIVE_MS);
    for (const a of live) {
      const c = imageConflicts(me.images, a.images)[0];
      if (c) {
        throw new KilnError(
          `image ${c.name} here is sha256 ${c.mine.slice(0, 16)}…, but agent ${a.name} (${a.network}) serves ${c.theirs.slice(0, 16)}… under the same name`,
          {
            hint: 'every agent must serve the same build of an image: copy the same image directory to each (check with kiln verify), or rename the new build',
          },
        );
      }
    }
    const at = now.toISOString();
    await tx.run(
      `INSERT INTO agents (name, network, images, started_at, seen_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET network = excluded.network, images = excluded.images, started_at = excluded.started_at, seen_at = excluded.seen_at`,
      [me.name, me.network, JSON.stringify(me.images), at, at],
    );
  });
}

/** The agent's heartbeat: it is live to the others while this keeps succeeding. */
export async function touchAgent(q: SqlQueries, name: string, now: Date): Promise<void> {
  await q.run('UPDATE agents SET seen_at = ? WHERE name = ?', [now.toISOString(), name]);
}
