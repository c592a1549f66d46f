import { describe, expect, it } from 'vitest';
import { checkRange } from '../../../src/serve/http/range.js';

describe('Range header (strict RFC 9110 byte ranges)', () => {
  const size = 10_000;
  it('reads the three forms of one range, clamped to the file', () => {
    expect(checkRange('bytes=1000-5999', size)).toEqual({ kind: 'range', start: 1000, end: 5999 });
    expect(checkRange('bytes=9000-', size)).toEqual({ kind: 'range', start: 9000, end: 9999 });
    expect(checkRange('bytes=-100', size)).toEqual({ kind: 'range', start: 9900, end: 9999 });
    expect(checkRange('bytes=-20000', size)).toEqual({ kind: 'range', start: 0, end: 9999 });
    expect(checkRange('bytes=0-99999999999999999999999', size)).toEqual({ kind: 'range', start: 0, end: 9999 });
    expect(checkRange('BYTES=0-0', size)).toEqual({ kind: 'range', start: 0, end: 0 });
    expect(checkRange('bytes=0005-0010', size)).toEqual({ kind: 'range', start: 5, end: 10 });
  });

  it('tells a well-formed range beyond the file from a malformed one', () => {
    expect(checkRange('bytes=10000-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(checkRange('bytes=99999999999999999999-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(checkRange('bytes=-0', size)).toEqual({ kind: 'unsatisfiable' });
    expect(checkRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(checkRange('bytes=-5', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('refuses hex, signs, whitespace, other units, several ranges and reversed ones, saying why', () => {
    const why = (v: string): string => {
      const c = checkRange(v, size);
      return c.kind === 'invalid' ? c.why : `accepted as ${c.kind}`;
    };
    for (const v of [
      'bytes=0x0-0x10',
      'bytes=+1-5',
      'bytes=1-+5',
      'bytes= 0-5',
      'bytes=0 -5',
      'bytes=0- 5',
      'bytes=0-5 ',
      'bytes =0-5',
      'bytes=-',
      'bytes=',
      'bytes=5',
      'bytes=--5',
      'bytes=1e3-',
      'bytes=0-5-6',
      'bytes=\t0-5',
      'bytes=-5-',
    ]) {
      expect(why(v), v).toMatch(/is not FIRST-LAST, FIRST- or -SUFFIX in decimal digits$|^expected bytes=/);
    }
    expect(why('bytes=0-1,5-6')).toBe('several ranges in one request are not served; ask for one range at a time');
    expect(why('bytes=0-1,')).toMatch(/^several ranges/);
    expect(why('items=0-5')).toBe('unit items is not served; only bytes');
    expect(why('0-5')).toBe('expected bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX');
    expect(why('')).toBe('expected bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX');
    expect(why('bytes=6-5')).toBe('last byte 5 comes before first byte 6');
  });
});
