// Reader for `sha256sum`-style check files: `<64 hex>  <name>` (text mode) or `<64 hex> *<name>`.

import { KilnError } from '../util/errors.js';

export interface SumLine {
  sha256: string;
  file: string;
}

export function parseSha256Sums(text: string, label = 'SHA256SUMS'): SumLine[] {
  const out: SumLine[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (!m?.[1] || !m[2]) throw new KilnError(`${label} line ${i + 1}: expected "<sha256>  <file>", got "${line.slice(0, 80)}"`);
    if (m[2].includes('/') || m[2] === '..') throw new KilnError(`${label} line ${i + 1}: "${m[2]}" is not a plain file name in the build directory`);
    out.push({ sha256: m[1].toLowerCase(), file: m[2] });
  });
  return out;
}
