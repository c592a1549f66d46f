// A strict reading of the Range header (RFC 9110 §14.1.2) for the image routes. @fastify/send is
// lenient: it read `bytes=0x0-0x10` as 0-0 (parseInt) and answered several ranges with the whole
// file. An image is gigabytes, so a client that asked for a piece and is not understood gets 416
// and an explanation, never the whole body.

export type RangeCheck =
  /** One satisfiable range, inclusive byte offsets clamped to the file. */
  | { kind: 'range'; start: number; end: number }
  /** Well-formed, but starts at or beyond the end of the file (or asks for a 0-byte suffix). */
  | { kind: 'unsatisfiable' }
  /** Not a single `bytes` range: `why` says what is wrong. */
  | { kind: 'invalid'; why: string };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DIGITS = /^[0-9]+$/;

/** What a Range header value asks of a file of `size` bytes. Pure. */
export function checkRange(value: string, size: number): RangeCheck {
  const eq = value.indexOf('=');
  const unit = eq < 0 ? '' : value.slice(0, eq);
  if (!TOKEN.test(unit)) return { kind: 'invalid', why: 'expected bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX' };
  if (unit.toLowerCase() !== 'bytes') return { kind: 'invalid', why: `unit ${unit} is not served; only bytes` };
  const set = value.slice(eq + 1);
  if (set.includes(',')) return { kind: 'invalid', why: 'several ranges in one request are not served; ask for one range at a time' };
  const dash = set.indexOf('-');
  const first = dash < 0 ? '' : set.slice(0, dash);
  const last = dash < 0 ? '' : set.slice(dash + 1);
  // Only decimal digits: no sign, no hex, no spaces, no empty range-spec.
  const ok = (s: string): boolean => DIGITS.test(s);
  if (dash < 0 || (first === '' && !ok(last)) || (first !== '' && (!ok(first) || (last !== '' && !ok(last))))) {
    return { kind: 'invalid', why: `${JSON.stringify(set)} is not FIRST-LAST, FIRST- or -SUFFIX in decimal digits` };
  }
  const n = BigInt(size);
  if (first === '') {
    const suffix = BigInt(last);
    if (suffix === 0n || n === 0n) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Number(suffix >= n ? 0n : n - suffix), end: size - 1 };
  }
  const start = BigInt(first);
  if (last !== '' && BigInt(last) < start) return { kind: 'invalid', why: `last byte ${last} comes before first byte ${first}` };
  if (start >= n) return { kind: 'unsatisfiable' };
  const end = last === '' || BigInt(last) >= n ? n - 1n : BigInt(last);
  return { kind: 'range', start: Number(start), end: Number(end) };
}
