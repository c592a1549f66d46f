import { describe, expect, it } from 'vitest';
import { formatAgo, formatBytes, formatDuration } from '../../../web/src/format.js';
import { href, parseRoute, type Route } from '../../../web/src/route.js';

describe('dashboard routes and formats', () => {
  it('round-trips every route through its hash, names with odd characters included', () => {
    const routes: Route[] = [
      { view: 'fleet' },
      { view: 'node', name: 'rack 1/pi?' },
      { view: 'images' },
      { view: 'image', name: 'pi-k3s' },
      { view: 'diff', a: 'x&y', b: 'z' },
    ];
    for (const r of routes) expect(parseRoute(href(r))).toEqual(r);
    expect(parseRoute('#/nonsense/here')).toEqual({ view: 'fleet' });
  });

  it('formats sizes, durations and ages as an operator reads them', () => {
    expect(formatBytes(587_202_560)).toBe('560 MiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(125_000)).toBe('2 min 05 s');
    const now = Date.parse('2026-12-03T10:00:00Z');
    expect(formatAgo('2026-12-03T09:59:30Z', now)).toBe('30 s ago');
    expect(formatAgo('2026-12-03T07:00:00Z', now)).toBe('3 h ago');
    expect(formatAgo(null, now)).toBe('never');
  });
});
