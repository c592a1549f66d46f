// The end-to-end run's timeline: each step, when it was reached since power-on and how long it took
// since the step before. Pure, so the formatting is tested without QEMU.

export interface Mark {
  what: string;
  at: number;
}

export function timeline(marks: readonly Mark[], t0: number): string {
  const sorted = [...marks].sort((a, b) => a.at - b.at);
  let before = t0;
  const rows = sorted.map((m) => {
    const since = (m.at - t0) / 1000;
    const step = (m.at - before) / 1000;
    before = m.at;
    return `${fmt(since).padStart(8)}  +${fmt(step).padStart(7)}  ${m.what}`;
  });
  return ['   since     step  what', ...rows].join('\n');
}

function fmt(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}
