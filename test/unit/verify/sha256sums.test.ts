import { describe, expect, it } from 'vitest';
import { parseSha256Sums } from '../../../src/verify/sha256sums.js';

describe('SHA256SUMS', () => {
  it('reads text and binary mode lines and rejects paths', () => {
    const h = 'ab'.repeat(32);
    expect(parseSha256Sums(`${h}  pi.img\n${h} *pi.bmap\n`)).toEqual([
      { sha256: h, file: 'pi.img' },
      { sha256: h, file: 'pi.bmap' },
    ]);
    expect(() => parseSha256Sums(`${h}  ../etc/passwd\n`)).toThrow(/not a plain file name/);
    expect(() => parseSha256Sums('nonsense\n')).toThrow(/line 1/);
  });
});
