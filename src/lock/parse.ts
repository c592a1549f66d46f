// Pure parsers for what apt prints and for Debian index stanzas, kept apart from the apt calls so
// they can be tested against generated fixtures.

import { KilnError } from '../util/errors.js';

export interface PrintedUri {
  url: string;
  filename: string;
  size: number;
}

/**
 * Parses `apt-get install --print-uris` lines: 'URL' FILENAME SIZE HASHTYPE:HEX. apt may print any
 * hash type here (seen: MD5Sum), so the sha256 is taken from the verified index, not from this line.
 */
export function parsePrintUris(text: string): PrintedUri[] {
  const out: PrintedUri[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith("'")) continue;
    const [, url, filename, size] = /^'([^']+)'\s+(\S+)\s+(\d+)(\s+\S+)?\s*$/.exec(line.trim()) ?? [];
    if (url === undefined || filename === undefined || size === undefined) throw new KilnError(`apt printed a download line kiln cannot read: ${line}`);
    out.push({ url, filename, size: Number(size) });
  }
  return out;
}

export type Stanza = Record<string, string>;

/** Splits a deb822 Packages index into stanzas; continuation lines are joined with newlines. */
export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = {};
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      last = undefined;
    } else if (/^[ \t]/.test(line)) {
      if (last) cur[last] += `\n${line}`;
    } else {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      last = line.slice(0, i);
      cur[last] = line.slice(i + 1).trim();
    }
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

/** Names of Essential:yes packages for `arch` (or all), which mmdebstrap installs before anything else. */
export function essentialPackages(stanzas: readonly Stanza[], arch: string): string[] {
  const names = new Set<string>();
  for (const s of stanzas) {
    if (s.Essential === 'yes' && (s.Architecture === arch || s.Architecture === 'all') && s.Package) names.add(s.Package);
  }
  return [...names].sort();
}

/** Maps pool paths (Filename:) to their stanza so a download line can be named exactly. */
export function indexByFilename(stanzas: readonly Stanza[]): Map<string, Stanza> {
  const m = new Map<string, Stanza>();
  for (const s of stanzas) if (s.Filename) m.set(s.Filename, s);
  return m;
}
