// Unified diff of two texts (line based, Myers' greedy shortest edit script). Written for config
// files and scripts in an image: a few thousand lines at most, so simplicity beats speed here.

export interface UnifiedDiffOptions {
  context?: number;
  /** Give up (return undefined) when the edit script would exceed this many inserted+deleted lines. */
  maxEdits?: number;
}

type Op = { kind: ' ' | '-' | '+'; line: string };

/** Decides whether bytes are worth showing as text: valid UTF-8 and no NUL bytes. */
export function looksLikeText(buf: Buffer): boolean {
  if (buf.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  // A trailing newline ends the last line rather than starting an empty one.
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function editScript(a: readonly string[], b: readonly string[], maxEdits: number): Op[] | undefined {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    const next = v.slice();
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0));
      let x = down ? (v[offset + k + 1] ?? 0) : (v[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      next[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    v = next;
    if (found >= 0) {
      trace.push(v);
      break;
    }
  }
  if (found < 0) return undefined;
  // Walk the recorded frontiers backwards to recover which lines were kept, deleted or inserted.
  const ops: Op[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const vPrev = trace[d] ?? new Int32Array(0);
    const k = x - y;
    const down = k === -d || (k !== d && (vPrev[offset + k - 1] ?? 0) < (vPrev[offset + k + 1] ?? 0));
    const prevK = down ? k + 1 : k - 1;
    const prevX = vPrev[offset + prevK] ?? 0;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      ops.push({ kind: ' ', line: a[x - 1] ?? '' });
      x--;
      y--;
    }
    if (down) ops.push({ kind: '+', line: b[y - 1] ?? '' });
    else ops.push({ kind: '-', line: a[x - 1] ?? '' });
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    ops.push({ kind: ' ', line: a[x - 1] ?? '' });
    x--;
    y--;
  }
  return ops.reverse();
}

/**
 * A unified diff (`--- a`/`+++ b` and `@@` hunks) or '' when the texts are equal; undefined when
 * the texts differ too much to be useful (more than maxEdits changed lines).
 */
export function unifiedDiff(textA: string, textB: string, labelA: string, labelB: string, opts: UnifiedDiffOptions = {}): string | undefined {
  if (textA === textB) return '';
  const context = opts.context ?? 3;
  const a = splitLines(textA);
  const b = splitLines(textB);
  const ops = editScript(a, b, opts.maxEdits ?? 2000);
  if (!ops) return undefined;
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  const changed = ops.map((o, i) => (o.kind !== ' ' ? i : -1)).filter((i) => i >= 0);
  let i = 0;
  while (i < changed.length) {
    const first = changed[i] ?? 0;
    let last = first;
    // Merge changes whose context windows touch into one hunk.
    while (i + 1 < changed.length && (changed[i + 1] ?? 0) - last <= 2 * context) {
      i++;
      last = changed[i] ?? last;
    }
    i++;
    const from = Math.max(0, first - context);
    const to = Math.min(ops.length - 1, last + context);
    let aLine = 0;
    let bLine = 0;
    for (let j = 0; j < from; j++) {
      const k = ops[j]?.kind;
      if (k !== '+') aLine++;
      if (k !== '-') bLine++;
    }
    let aCount = 0;
    let bCount = 0;
    const body: string[] = [];
    for (let j = from; j <= to; j++) {
      const op = ops[j];
      if (!op) continue;
      if (op.kind !== '+') aCount++;
      if (op.kind !== '-') bCount++;
      body.push(`${op.kind}${op.line}`);
    }
    out.push(`@@ -${range(aLine, aCount)} +${range(bLine, bCount)} @@`, ...body);
  }
  const unterminated = (t: string): boolean => t !== '' && !t.endsWith('\n');
  if (unterminated(textA) || unterminated(textB)) out.push('\\ (one side has no newline at end of file)');
  return `${out.join('\n')}\n`;
}

function range(start: number, count: number): string {
  // Unified format counts lines from 1; an empty range names the line before it.
  const first = count === 0 ? start : start + 1;
  return count === 1 ? `${first}` : `${first},${count}`;
}
