import { KilnError } from '../util/errors.js';
import { readSha256Sums, type SumEntry } from '../util/sha256sums.js';

// A build directory's SHA256SUMS as `kiln verify` takes it: every line a sum line (`#` comments
// allowed), every name a plain file in the directory.

export type SumLine = SumEntry;

export function parseSha256Sums(text: string, label = 'SHA256SUMS'): SumLine[] {
  const { entries, malformed } = readSha256Sums(text, { comments: true });
  // the first offending line in file order is the one named, whichever rule it breaks
  const problems = [
    ...malformed.map((m) => ({ line: m.line, why: `expected "<sha256>  <file>", got "${m.text.slice(0, 80)}"` })),
    ...entries
      .filter((e) => e.file.includes('/') || e.file === '..')
      .map((e) => ({ line: e.line, why: `"${e.file}" is not a plain file name in the build directory` })),
  ].sort((a, b) => a.line - b.line);
  const first = problems[0];
  if (first) throw new KilnError(`${label} line ${first.line}: ${first.why}`);
  return entries.map(({ sha256, file }) => ({ sha256, file }));
}
