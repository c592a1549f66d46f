import { describe, expect, it } from 'vitest';
import { looksLikeText, unifiedDiff } from '../../../src/diff/textdiff.js';

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\nb\n', 'a\nb\n', 'a', 'b')).toBe('');
  });

  it('shows a changed line with three lines of context', () => {
    const a = 'l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\n';
    const b = 'l1\nl2\nl3\nl4\nL5\nl6\nl7\nl8\n';
    expect(unifiedDiff(a, b, 'a/f', 'b/f')).toBe(
      ['--- a/f', '+++ b/f', '@@ -2,7 +2,7 @@', ' l2', ' l3', ' l4', '-l5', '+L5', ' l6', ' l7', ' l8', ''].join('\n'),
    );
  });

  it('handles pure insertions and deletions at the edges', () => {
    expect(unifiedDiff('', 'x\n', 'a', 'b')).toBe('--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n');
    expect(unifiedDiff('x\ny\n', 'y\n', 'a', 'b')).toBe('--- a\n+++ b\n@@ -1,2 +1 @@\n-x\n y\n');
  });

  it('keeps distant changes in separate hunks', () => {
    const a = `${Array.from({ length: 20 }, (_, i) => `line${i}`).join('\n')}\n`;
    const b = a.replace('line1\n', 'LINE1\n').replace('line18\n', 'LINE18\n');
    const d = unifiedDiff(a, b, 'a', 'b') ?? '';
    expect(d.match(/^@@/gm)).toHaveLength(2);
  });

  it('gives up beyond the edit budget', () => {
    expect(unifiedDiff('a\nb\nc\n', 'x\ny\nz\n', 'a', 'b', { maxEdits: 2 })).toBeUndefined();
  });
});

describe('looksLikeText', () => {
  it('accepts UTF-8 and rejects NULs and invalid sequences', () => {
    expect(looksLikeText(Buffer.from('héllo\n'))).toBe(true);
    expect(looksLikeText(Buffer.from([0x41, 0, 0x42]))).toBe(false);
    expect(looksLikeText(Buffer.from([0xff, 0xfe, 0x41]))).toBe(false);
  });
});
