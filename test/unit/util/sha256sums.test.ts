import { describe, expect, it } from 'vitest';
import { readSha256Sums, sha256SumsText } from '../../../src/util/sha256sums.js';

const A = 'ab'.repeat(32);
const B = 'cd'.repeat(32);

describe('sha256sum check files', () => {
  it('what the writer writes, the reader reads back', () => {
    const text = sha256SumsText([
      { sha256: A, file: 'pi.img' },
      { sha256: B, file: 'manifest.json' },
    ]);
    expect(text).toBe(`${A}  pi.img\n${B}  manifest.json\n`);
    expect(readSha256Sums(text)).toEqual({
      entries: [
        { line: 1, sha256: A, file: 'pi.img' },
        { line: 2, sha256: B, file: 'manifest.json' },
      ],
      malformed: [],
    });
  });

  it('numbers malformed lines; # comments only when asked', () => {
    const text = `# made by hand\r\n${A.toUpperCase()} *x.bin\nnonsense\n`;
    expect(readSha256Sums(text).malformed.map((m) => m.line)).toEqual([1, 3]);
    const withComments = readSha256Sums(text, { comments: true });
    expect(withComments.malformed.map((m) => m.line)).toEqual([3]);
    expect(withComments.entries).toEqual([{ line: 2, sha256: A, file: 'x.bin' }]);
  });
});
