import { formatDuration } from '../format.js';
import type { Timeline } from '../timeline.js';

// One bar per phase of the last install, on a shared time axis from the reprovision to the last
// milestone reached; the durations are written beside the bars, and each milestone's time since the
// start in the list below (readable at phone width, where the chart is small).

const ROW = 26;
const LABEL_W = 170;
const W = 640;

export function TimelineChart({ t }: { t: Timeline }) {
  if (t.phases.length === 0) {
    return <p class="empty">{t.anchor ? 'Nothing reached yet since the last reprovision.' : 'No install on record yet.'}</p>;
  }
  const t0 = t.phases[0]?.start ?? 0;
  const t1 = Math.max(...t.phases.map((p) => p.end), t0 + 1);
  const scale = (W - LABEL_W - 90) / (t1 - t0);
  const h = t.phases.length * ROW + 8;
  return (
    <figure class="timeline">
      <svg viewBox={`0 0 ${W} ${h}`} role="img" aria-labelledby="tl-title" width={W}>
        <title id="tl-title">Phases of the last install, {formatDuration(t1 - t0)} in all</title>
        {t.phases.map((p, i) => {
          const x = LABEL_W + (p.start - t0) * scale;
          const w = Math.max(2, (p.end - p.start) * scale);
          const y = 4 + i * ROW;
          return (
            <g key={p.label} class="phase">
              <text x={LABEL_W - 8} y={y + 16} text-anchor="end" class="phase-label">
                {p.label}
              </text>
              <rect x={x} y={y + 4} width={w} height={ROW - 10} rx={3} class="phase-bar" />
              <text x={x + w + 6} y={y + 16} class="phase-time">
                {formatDuration(p.end - p.start)}
              </text>
            </g>
          );
        })}
      </svg>
      <ol class="milestones">
        {t.milestones
          .filter((m) => m.at !== undefined)
          .map((m) => {
            const at = Date.parse(m.at ?? '');
            return (
              <li key={m.key}>
                <span class="dim mono">+{formatDuration(at - t0)}</span> {m.label}
              </li>
            );
          })}
      </ol>
      <figcaption>
        {formatDuration(t1 - t0)} from {t.anchor ? t.anchor.type : 'the first event'} to{' '}
        {t.milestones
          .filter((m) => m.at)
          .at(-1)
          ?.label.toLowerCase()}
        {t.failure ? ` · last failure: ${t.failure.type}` : ''}
      </figcaption>
    </figure>
  );
}
