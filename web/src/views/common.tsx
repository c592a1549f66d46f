import type { InstallProgress, NodeRecord } from '../../../src/serve/http/api-types.js';
import { formatBytes } from '../format.js';

// Shared pieces of the views. State is always written out and carries a glyph, so colour is never
// the only signal (a rack at night, a colour-blind operator, a monochrome phone screen).

const GLYPH: Record<string, string> = {
  discovered: '?',
  registered: '○',
  installing: '↻',
  installed: '◐',
  booted: '●',
  joined: '✓',
  failed: '✕',
  parked: '‖',
};

export function StateBadge({ node }: { node: NodeRecord }) {
  const parked = (node.parked ?? null) !== null;
  const key = parked ? 'parked' : node.state;
  return (
    <span class={`badge state-${key}`} title={parked ? `parked: ${node.parked}` : `state: ${node.state}, plan: ${node.plan}`}>
      <span aria-hidden="true">{GLYPH[key] ?? '•'}</span> {parked ? `parked (${node.state})` : node.state}
    </span>
  );
}

export function Progress({ p, label }: { p: InstallProgress | undefined; label: string }) {
  if (!p) return null;
  const pct = Math.max(0, Math.min(100, Math.round(p.percent)));
  const detail = p.bytes !== undefined && p.total !== undefined ? `${formatBytes(p.bytes)} of ${formatBytes(p.total)}` : '';
  const rate = p.bytesPerSecond ? `, ${formatBytes(p.bytesPerSecond)}/s` : '';
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      <div class="progress-track">
        <div class="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <span class="progress-text">
        {pct} %{detail ? ` · ${detail}${rate}` : ''}
      </span>
    </div>
  );
}

export function ErrorNote({ error }: { error: string | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}
