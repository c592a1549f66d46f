// Reads counters out of Prometheus text exposition (kiln's /metrics).

/** Sum of the samples of `name` whose labels include all of `labels` (0 when there is none). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([^\s{]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1] ?? '', l[2] ?? '']));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Whether the exposition declares a metric of that name at all. */
export function hasMetric(text: string, name: string): boolean {
  return text.split('\n').some((l) => l.startsWith(`# TYPE ${name} `));
}

/** The values of `label` among the samples of `name`, each with its sum. */
export function byLabel(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const v = new RegExp(`${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(line)?.[1];
    if (v !== undefined) out.set(v, (out.get(v) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/** `after - before` for each value of `label` that moved, as `value +n` items. */
export function movedByLabel(before: string, after: string, name: string, label: string): string {
  const b = byLabel(before, name, label);
  return [...byLabel(after, name, label)]
    .map(([k, v]) => [k, v - (b.get(k) ?? 0)] as const)
    .filter(([, d]) => d !== 0)
    .map(([k, d]) => `${k} +${d}`)
    .join(', ');
}
