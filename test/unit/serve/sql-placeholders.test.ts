import { describe, expect, it } from 'vitest';
import { toPositional } from '../../../src/serve/nodes/store/placeholders.js';

describe('toPositional (? to $n for PostgreSQL)', () => {
  it('numbers placeholders in order', () => {
    expect(toPositional('SELECT * FROM nodes WHERE name = ? AND (serial = ? OR mac = ?)')).toEqual({
      text: 'SELECT * FROM nodes WHERE name = $1 AND (serial = $2 OR mac = $3)',
      count: 3,
    });
    expect(toPositional('INSERT INTO events (node, type, at, data) VALUES (?,?,?,?) RETURNING id').text).toBe(
      'INSERT INTO events (node, type, at, data) VALUES ($1,$2,$3,$4) RETURNING id',
    );
  });

  it('leaves SQL without placeholders as it is', () => {
    expect(toPositional('SELECT 1')).toEqual({ text: 'SELECT 1', count: 0 });
    expect(toPositional('')).toEqual({ text: '', count: 0 });
  });

  it('skips quoted text, quoted identifiers, dollar quotes and comments', () => {
    const sql = `SELECT '?', 'it''s ?', "odd?col", $$ ? $$, $fn$ '?' $fn$ -- why?
      FROM t /* really? */ WHERE a = ? AND b = $1x`;
    const { text, count } = toPositional(sql);
    expect(count).toBe(1);
    expect(text).toContain(`SELECT '?', 'it''s ?', "odd?col", $$ ? $$, $fn$ '?' $fn$ -- why?`);
    expect(text).toContain('/* really? */ WHERE a = $1 AND b = $1x');
  });

  it('numbers past 9 and after a trailing placeholder', () => {
    const sql = `VALUES (${Array(12).fill('?').join(', ')})`;
    expect(toPositional(sql).text).toBe(`VALUES (${Array.from({ length: 12 }, (_, i) => `$${i + 1}`).join(', ')})`);
    expect(toPositional('WHERE a = ?')).toEqual({ text: 'WHERE a = $1', count: 1 });
  });

  it('treats an unterminated quote as running to the end (PostgreSQL then refuses the statement)', () => {
    expect(toPositional("SELECT ? WHERE x = 'open ?")).toEqual({ text: "SELECT $1 WHERE x = 'open ?", count: 1 });
  });
});
