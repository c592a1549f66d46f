import { describe, expect, it } from 'vitest';
import type { InstallProgress, NodeRecord, StreamMessage } from '../../../src/serve/http/api-types.js';
import { blankNode, type EventType } from '../../../src/serve/nodes/model.js';
import { applyMessage, countByFilter, fromResponse, ordered } from '../../../web/src/fleet-state.js';

const node = (name: string, over: Partial<NodeRecord> = {}): NodeRecord => ({ ...blankNode(name), ...over });
const msg = (id: number, type: EventType, n: NodeRecord | null, name = n?.name ?? '', progress?: InstallProgress): StreamMessage => ({
  event: { id, node: name, type, at: '2026-12-03T10:00:00.000Z', data: {} },
  node: n,
  ...(progress ? { progress } : {}),
});

describe('fleet state (dashboard)', () => {
  const start = fromResponse({ nodes: [node('b'), node('a', { state: 'joined' })], progress: {}, lastEventId: 10 }, 10);

  it('adds a discovered Pi, updates progress, drops it when the install ends, and removes a node', () => {
    const pi = node('pi-dca632000001', { plan: 'discovered', state: 'discovered' });
    let s = applyMessage(start, msg(11, 'discovered', pi));
    expect(ordered(s, 'all').map((n) => n.name)).toEqual(['pi-dca632000001', 'a', 'b']);
    s = applyMessage(s, msg(12, 'install-progress', node('b', { state: 'installing' }), 'b', { percent: 40, at: '2026-12-03T10:00:00.000Z' }));
    expect(s.progress.b?.percent).toBe(40);
    s = applyMessage(s, msg(13, 'installed', node('b', { state: 'installed' })));
    expect(s.progress.b).toBeUndefined();
    s = applyMessage(s, msg(14, 'removed', null, 'a'));
    expect(Object.keys(s.nodes).sort()).toEqual(['b', 'pi-dca632000001']);
    expect(s.lastEventId).toBe(14);
  });

  it('ignores a message it already has (the stream resumes at or before the list)', () => {
    expect(applyMessage(start, msg(10, 'removed', null, 'a'))).toBe(start);
  });

  it('counts and filters by state, with failed, parked and discovered nodes under attention', () => {
    const s = fromResponse(
      {
        nodes: [node('a', { state: 'failed' }), node('b', { parked: 'three failed installs', state: 'failed' }), node('c', { state: 'joined' })],
        progress: {},
        lastEventId: 0,
      },
      0,
    );
    const c = countByFilter(s);
    expect([c.all, c.attention, c.failed, c.joined, c.installing]).toEqual([3, 2, 2, 1, 0]);
    expect(ordered(s, 'joined').map((n) => n.name)).toEqual(['c']);
  });
});
