import type { DiffReport, Layer } from './model.js';
import type { EntryChange, FieldChange } from '../disk/tree.js';
import { show } from './report-text.js';

// A single self-contained page (inline CSS, no scripts, no external assets) so an operator can
// open it from a CI artifact store or attach it to an issue.

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:2em;max-width:1200px;color:#1b1b1b}
h1{font-size:1.3em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}
.same{color:#2a7a2a} .different{color:#b00020} .not-compared{color:#8a6d00}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}
td.v{font-family:ui-monospace,monospace;word-break:break-all}
pre{background:#f6f8fa;padding:.6em;overflow:auto} .add{color:#116329} .del{color:#b00020} .hunk{color:#6f42c1}
details{margin:.3em 0}`;

export function escapeHtml(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

export function renderHtml(r: DiffReport): string {
  const verdict = r.identical ? '<p class="same"><b>Identical</b></p>' : '<p class="different"><b>Different</b></p>';
  const head = `<table><tr><th></th><th>A</th><th>B</th></tr>
<tr><th>input</th><td class="v">${escapeHtml(r.a.label)}</td><td class="v">${escapeHtml(r.b.label)}</td></tr>
<tr><th>size</th><td class="v">${r.a.size ?? ''}</td><td class="v">${r.b.size ?? ''}</td></tr>
<tr><th>sha256</th><td class="v">${escapeHtml(r.a.sha256 ?? '')}</td><td class="v">${escapeHtml(r.b.sha256 ?? '')}</td></tr></table>`;
  const order = [...r.layers.filter((l) => l.status === 'different'), ...r.layers.filter((l) => l.status !== 'different')];
  const body = order.map(layerHtml).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kiln diff</title><style>${CSS}</style></head>
<body><h1>kiln diff</h1>${verdict}${head}${body}</body></html>
`;
}

function layerHtml(l: Layer): string {
  const parts = [`<h2 class="${l.status}">${escapeHtml(l.title)} <small>[${escapeHtml(l.id)}] ${l.status}</small></h2>`];
  if (l.note) parts.push(`<p>${escapeHtml(l.note)}</p>`);
  if (l.fields.length > 0) parts.push(fieldsTable(l.fields));
  for (const e of l.entries) parts.push(entryHtml(e));
  return parts.join('\n');
}

function fieldsTable(fields: readonly FieldChange[]): string {
  const rows = fields.map(
    (f) => `<tr><th>${escapeHtml(f.field)}</th><td class="v">${escapeHtml(show(f.a))}</td><td class="v">${escapeHtml(show(f.b))}</td></tr>`,
  );
  return `<table><tr><th>field</th><th>A</th><th>B</th></tr>${rows.join('')}</table>`;
}

function entryHtml(e: EntryChange): string {
  const cls = e.change === 'added' ? 'add' : e.change === 'removed' ? 'del' : '';
  const parts = [`<details open><summary class="${cls}">${e.change} ${escapeHtml(e.kind)} <code>${escapeHtml(e.name)}</code></summary>`];
  if (e.fields.length > 0) parts.push(fieldsTable(e.fields));
  if (e.note) parts.push(`<p>${escapeHtml(e.note)}</p>`);
  if (e.unifiedDiff) parts.push(`<pre>${e.unifiedDiff.trimEnd().split('\n').map(diffLine).join('\n')}</pre>`);
  parts.push('</details>');
  return parts.join('\n');
}

function diffLine(line: string): string {
  const cls = line.startsWith('@@') ? 'hunk' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '';
  return cls ? `<span class="${cls}">${escapeHtml(line)}</span>` : escapeHtml(line);
}
