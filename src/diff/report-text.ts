import type { DiffReport, Layer } from './model.js';
import type { EntryChange, FieldChange, Scalar } from '../disk/tree.js';

// The default report: a verdict line, then the differing layers outermost first (the first one
// is usually the answer), then a one-line list of layers that were the same.

export function renderText(r: DiffReport): string {
  const out: string[] = [];
  out.push(`kiln diff: ${r.a.label}  vs  ${r.b.label}`);
  if (r.identical) {
    out.push(`IDENTICAL: ${r.a.sha256 ?? ''} (${r.a.size ?? '?'} bytes)`);
  } else {
    const diffs = r.layers.filter((l) => l.status === 'different');
    out.push(`DIFFERENT in ${diffs.length} layer(s): ${diffs.map((l) => l.id).join(', ')}`);
  }
  for (const l of r.layers.filter((x) => x.status === 'different')) out.push('', ...renderLayer(l));
  const notCompared = r.layers.filter((l) => l.status === 'not-compared');
  for (const l of notCompared) out.push('', `== ${l.title}: not compared: ${l.note ?? ''}`);
  const same = r.layers.filter((l) => l.status === 'same');
  if (same.length > 0) out.push('', `Same: ${same.map((l) => l.id + (l.note ? ` (${l.note})` : '')).join(', ')}`);
  return `${out.join('\n')}\n`;
}

function renderLayer(l: Layer): string[] {
  const out = [`== ${l.title} [${l.id}]`];
  if (l.note) out.push(`   note: ${l.note}`);
  for (const f of l.fields) out.push(`   ${fieldLine(f)}`);
  const counts = countChanges(l.entries);
  if (l.entries.length > 0) out.push(`   ${counts}`);
  for (const e of l.entries) out.push(...entryLines(e));
  return out;
}

function countChanges(entries: readonly EntryChange[]): string {
  const n = (k: string) => entries.filter((e) => e.change === k).length;
  return `${n('added')} added, ${n('removed')} removed, ${n('changed')} changed`;
}

function entryLines(e: EntryChange): string[] {
  const sign = e.change === 'added' ? '+' : e.change === 'removed' ? '-' : '~';
  const out = [`   ${sign} ${e.kind} ${e.name}`];
  for (const f of e.fields) {
    if (e.change === 'added') out.push(`       ${f.field}: ${show(f.b)}`);
    else if (e.change === 'removed') out.push(`       ${f.field}: ${show(f.a)}`);
    else out.push(`       ${fieldLine(f)}`);
  }
  if (e.note) out.push(`       (${e.note})`);
  if (e.unifiedDiff)
    out.push(
      ...e.unifiedDiff
        .trimEnd()
        .split('\n')
        .map((line) => `       ${line}`),
    );
  return out;
}

function fieldLine(f: FieldChange): string {
  if (f.a === f.b) return `${f.field}: ${show(f.a)}`;
  return `${f.field}: ${show(f.a)} → ${show(f.b)}`;
}

export function show(v: Scalar): string {
  if (v === null) return '(none)';
  if (typeof v === 'string') return v === '' ? '""' : v;
  return String(v);
}
