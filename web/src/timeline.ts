// The node view's chart: the milestones of a node's last reprovision, read from its events. Pure,
// so the phase rules are tested without a browser.

import type { EventType, NodeEvent } from '../../src/serve/nodes/model.js';

export interface Milestone {
  key: string;
  label: string;
  /** ISO time the milestone was reached; absent when it was not (yet). */
  at?: string;
}

export interface Phase {
  /** From the milestone before to this one. */
  label: string;
  start: number;
  end: number;
}

export interface Timeline {
  /** The event the timeline is anchored at (a reprovision, registration or self-heal). */
  anchor: NodeEvent | undefined;
  milestones: Milestone[];
  phases: Phase[];
  /** A failure after the anchor, the newest. */
  failure?: NodeEvent;
}

/** Events that start a new install cycle. */
const ANCHORS: ReadonlySet<EventType> = new Set(['reprovision', 'registered', 'self-heal']);

interface Step {
  key: string;
  label: string;
  /** The phase that ends at this milestone. */
  phase: string;
  reached: (e: NodeEvent) => boolean;
}

const done = (e: NodeEvent): boolean => {
  const d = e.data;
  if (typeof d.progress === 'number') return d.progress >= 100;
  return typeof d.bytes === 'number' && typeof d.total === 'number' && d.total > 0 && d.bytes >= d.total;
};

const STEPS: readonly Step[] = [
  { key: 'dhcp', label: 'DHCP offer', phase: 'waiting for DHCP', reached: (e) => e.type === 'dhcp-offered' },
  { key: 'tftp', label: 'Boot files (TFTP)', phase: 'DHCP → TFTP', reached: (e) => e.type === 'file-fetched' },
  { key: 'installer', label: 'Installer started', phase: 'booting the installer', reached: (e) => e.type === 'install-started' },
  { key: 'written', label: 'Bytes written', phase: 'writing', reached: (e) => e.type === 'install-progress' && done(e) },
  { key: 'verified', label: 'Verified', phase: 'verifying', reached: (e) => e.type === 'installed' },
  { key: 'first-boot', label: 'First boot', phase: 'rebooting from disk', reached: (e) => e.type === 'first-boot' },
  { key: 'k3s', label: 'k3s started', phase: 'starting k3s', reached: (e) => e.type === 'k3s-started' },
  { key: 'joined', label: 'Joined the cluster', phase: 'joining', reached: (e) => e.type === 'k3s-joined' },
];

const FAILURES: ReadonlySet<EventType> = new Set(['install-failed', 'first-boot-failed', 'parked']);

/** The timeline of the node's last install cycle, from events in any order. */
export function buildTimeline(events: readonly NodeEvent[]): Timeline {
  const sorted = [...events].sort((a, b) => a.id - b.id);
  let from = 0;
  for (let i = sorted.length - 1; i >= 0; i--) {
    const e = sorted[i];
    if (e && ANCHORS.has(e.type)) {
      from = i;
      break;
    }
  }
  const anchor = sorted.find((e, i) => i === from && ANCHORS.has(e.type));
  const cycle = anchor ? sorted.slice(from + 1) : sorted;
  const reachedAt = new Map<string, string>();
  for (const step of STEPS) {
    const e = cycle.find(step.reached);
    if (e) reachedAt.set(step.key, e.at);
  }
  // "Written" is the installer's last progress report at 100 %; an installer that reported none
  // then has written and verified in one phase, so the verified milestone stands for both.
  if (!reachedAt.has('written') && reachedAt.has('verified')) reachedAt.delete('written');
  const milestones: Milestone[] = STEPS.map((s) => ({ key: s.key, label: s.label, at: reachedAt.get(s.key) }));

  const phases: Phase[] = [];
  let prev = anchor ? Date.parse(anchor.at) : undefined;
  for (const step of STEPS) {
    const at = reachedAt.get(step.key);
    if (at === undefined) continue;
    const t = Date.parse(at);
    if (prev !== undefined && t >= prev) phases.push({ label: step.phase, start: prev, end: t });
    prev = t;
  }
  const failure = [...cycle].reverse().find((e) => FAILURES.has(e.type));
  return { anchor, milestones, phases, ...(failure ? { failure } : {}) };
}
