// The fleet as the dashboard holds it: the nodes list from GET /api/nodes, then kept current by the
// live stream's messages. Pure, so ordering, filtering and the stream's effects are tested alone.

import type { InstallProgress, NodeRecord, NodesResponse, StreamMessage } from '../../src/serve/http/api-types.js';

export interface FleetState {
  nodes: Record<string, NodeRecord>;
  progress: Record<string, InstallProgress>;
  /** The newest event id applied; the stream resumes after it. */
  lastEventId: number;
}

export function fromResponse(r: NodesResponse, lastEventId: number): FleetState {
  return { nodes: Object.fromEntries(r.nodes.map((n) => [n.name, n])), progress: { ...r.progress }, lastEventId };
}

/** The state after one stream message; messages at or below lastEventId are already in it. */
export function applyMessage(s: FleetState, m: StreamMessage): FleetState {
  if (m.event.id <= s.lastEventId) return s;
  const nodes = { ...s.nodes };
  const progress = { ...s.progress };
  const name = m.event.node;
  if (m.node === null) {
    delete nodes[name];
    delete progress[name];
  } else {
    nodes[m.node.name] = m.node;
    if (m.progress) progress[m.node.name] = m.progress;
    else if (m.node.state !== 'installing') delete progress[m.node.name];
  }
  return { nodes, progress, lastEventId: m.event.id };
}

/** What the filter buttons offer: every state, plus the two views operators reach for at night. */
export const FILTERS = ['all', 'attention', 'discovered', 'installing', 'installed', 'booted', 'joined', 'failed', 'registered'] as const;
export type Filter = (typeof FILTERS)[number];

export function needsAttention(n: NodeRecord): boolean {
  return n.state === 'failed' || (n.parked ?? null) !== null || n.plan === 'discovered';
}

export function matches(n: NodeRecord, f: Filter): boolean {
  if (f === 'all') return true;
  if (f === 'attention') return needsAttention(n);
  return n.state === f;
}

/** Discovered Pis waiting for approval first (newest first), then the registered fleet by name. */
export function ordered(s: FleetState, f: Filter): NodeRecord[] {
  const all = Object.values(s.nodes).filter((n) => matches(n, f));
  const waiting = all.filter((n) => n.plan === 'discovered').sort((a, b) => (b.lastSeen ?? '').localeCompare(a.lastSeen ?? ''));
  const rest = all.filter((n) => n.plan !== 'discovered').sort((a, b) => a.name.localeCompare(b.name));
  return [...waiting, ...rest];
}

export function countByFilter(s: FleetState): Record<Filter, number> {
  const nodes = Object.values(s.nodes);
  return Object.fromEntries(FILTERS.map((f) => [f, nodes.filter((n) => matches(n, f)).length])) as Record<Filter, number>;
}
