// The registry writes `?` placeholders (SQLite's); PostgreSQL numbers them ($1, $2, ...). Text
// inside quotes, dollar quotes and comments is copied as it is, so a `?` there stays a `?`.

/** `sql` with each `?` outside quoted text and comments numbered `$1..$n`, and n. */
export function toPositional(sql: string): { text: string; count: number } {
  let out = '';
  let count = 0;
  let from = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === '?') {
      count += 1;
      out += `${sql.slice(from, i)}$${count}`;
      i += 1;
      from = i;
    } else if (c === "'" || c === '"') {
      // a doubled quote inside ('it''s') reads as closing and reopening: the scan stays in step
      i = skipTo(sql, c, i + 1);
    } else if (c === '-' && sql[i + 1] === '-') {
      i = skipTo(sql, '\n', i + 2);
    } else if (c === '/' && sql[i + 1] === '*') {
      i = skipTo(sql, '*/', i + 2);
    } else if (c === '$') {
      const tag = /\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/y;
      tag.lastIndex = i;
      const m = tag.exec(sql);
      i = m ? skipTo(sql, m[0], i + m[0].length) : i + 1;
    } else {
      i += 1;
    }
  }
  return { text: out + sql.slice(from), count };
}

/** The index just past the next `end` at or after `from`, or the end of the text when it never closes. */
function skipTo(sql: string, end: string, from: number): number {
  const at = sql.indexOf(end, from);
  return at === -1 ? sql.length : at + end.length;
}
