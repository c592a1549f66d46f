import type { InstallProgress } from './api-types.js';

// Install progress as the dashboard shows it, from the data of a node's `install-progress` report
// (the installer sends `progress`, or `bytes` of `total`, and `bytesPerSecond`). Pure.

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Undefined when the report says neither a percentage nor bytes of a known total. */
export function progressOf(data: Record<string, unknown>, at: string): InstallProgress | undefined {
  const bytes = num(data.bytes);
  const total = num(data.total);
  const bytesPerSecond = num(data.bytesPerSecond);
  const reported = num(data.progress);
  const percent = reported ?? (bytes !== undefined && total !== undefined && total > 0 ? (bytes / total) * 100 : undefined);
  if (percent === undefined) return undefined;
  return {
    // One decimal is all a bar or a label shows; clamped, as bytes can outrun a stale total.
    percent: Math.round(Math.min(100, Math.max(0, percent)) * 10) / 10,
    ...(bytes !== undefined ? { bytes } : {}),
    ...(total !== undefined ? { total } : {}),
    ...(bytesPerSecond !== undefined ? { bytesPerSecond } : {}),
    at,
  };
}

/** By node name, from the registry's latest reports of installing nodes (NodeRegistry.latestInstallProgress). */
export function progressByNode(rows: readonly { node: string; at: string; data: Record<string, unknown> }[]): Record<string, InstallProgress> {
  const out: Record<string, InstallProgress> = {};
  for (const r of rows) {
    const p = progressOf(r.data, r.at);
    if (p) out[r.node] = p;
  }
  return out;
}
