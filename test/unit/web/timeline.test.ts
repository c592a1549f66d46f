import { describe, expect, it } from 'vitest';
import type { EventType, NodeEvent } from '../../../src/serve/nodes/model.js';
import { buildTimeline } from '../../../web/src/timeline.js';

let id = 0;
const ev = (type: EventType, sec: number, data: Record<string, unknown> = {}): NodeEvent => ({
  id: ++id,
  node: 'pi-1',
  type,
  at: new Date(Date.UTC(2026, 11, 3, 10, 0, sec)).toISOString(),
  data,
});

describe('buildTimeline (the node view chart)', () => {
  it('reads each phase of the last reprovision, with its duration, and ignores an older install', () => {
    const events = [
      ev('registered', 0),
      ev('install-started', 1),
      ev('installed', 2),
      ev('reprovision', 10),
      ev('dhcp-offered', 12),
      ev('file-fetched', 13),
      ev('install-started', 20),
      ev('install-progress', 30, { progress: 50 }),
      ev('install-progress', 40, { progress: 100, bytes: 10, total: 10 }),
      ev('installed', 44),
      ev('first-boot', 59),
      ev('k3s-started', 60),
    ];
    const t = buildTimeline([...events].reverse());
    expect(t.anchor?.type).toBe('reprovision');
    expect(t.phases.map((p) => [p.label, (p.end - p.start) / 1000])).toEqual([
      ['waiting for DHCP', 2],
      ['DHCP → TFTP', 1],
      ['booting the installer', 7],
      ['writing', 20],
      ['verifying', 4],
      ['rebooting from disk', 15],
      ['starting k3s', 1],
    ]);
    expect(t.milestones.find((m) => m.key === 'joined')?.at).toBeUndefined();
    expect(t.failure).toBeUndefined();
  });

  it('merges writing and verifying when the installer never reported 100 %, and names the last failure', () => {
    const t = buildTimeline([
      ev('reprovision', 0),
      ev('install-started', 5),
      ev('install-progress', 8, { bytes: 5, total: 10 }),
      ev('install-failed', 9),
      ev('installed', 30),
    ]);
    expect(t.phases.map((p) => p.label)).toEqual(['booting the installer', 'verifying']);
    expect(t.milestones.find((m) => m.key === 'written')?.at).toBeUndefined();
    expect(t.failure?.type).toBe('install-failed');
  });

  it('has no phases and no anchor for a node with nothing on record', () => {
    const t = buildTimeline([ev('dhcp-seen', 1)]);
    expect(t.anchor).toBeUndefined();
    expect(t.phases).toEqual([]);
  });
});
