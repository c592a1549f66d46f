import { isDeepStrictEqual } from 'node:util';
import { isMap, isScalar, parse, parseDocument, type Scalar, type YAMLMap } from 'yaml';
import { artifactSchema } from './schema.js';
import { EXIT, firstIssue, KilnError } from '../util/errors.js';
import { readSha256Sums } from '../util/sha256sums.js';

// The pure half of `kiln pin k3s` (src/cli/pin.ts does the downloads): which release files to
// fetch and from where, what upstream's sums file says, and the spec text with the two k3s pins
// replaced. Nothing here touches the network or the disk, so all of it is unit-tested.

/** Upstream's checksum list for the arm64 release files, published next to them. */
export const SUMS_FILE = 'sha256sum-arm64.txt';

/** The spec's artifact entries `kiln pin k3s` owns, and the release file each one is. */
export const K3S_PINS = [
  { artifact: 'k3s', file: 'k3s-arm64' },
  { artifact: 'k3s-airgap-images', file: 'k3s-airgap-images-arm64.tar.zst' },
] as const;

const VERSION = /^v\d+\.\d+\.\d+\+k3s\d+$/;

/** A k3s release tag such as v1.32.0+k3s1; anything else (no v, no +k3sN, an rc) is refused. */
export function checkK3sVersion(version: string): string {
  if (!VERSION.test(version)) {
    throw new KilnError(`<version> ${JSON.stringify(version)} is not a k3s release tag (vX.Y.Z+k3sN, e.g. v1.32.0+k3s1)`, {
      exitCode: EXIT.invalid,
    });
  }
  return version;
}

/**
 * Where the release's files are: upstream's GitHub release (the tag's + is %2B in its URL path),
 * or `--release-url`, a mirror holding the same files. Always ends in / so file names resolve under it.
 */
export function releaseBase(version: string, releaseUrl?: string): string {
  if (releaseUrl === undefined) return `https://github.com/k3s-io/k3s/releases/download/${version.replace('+', '%2B')}/`;
  let u: URL;
  try {
    u = new URL(releaseUrl);
  } catch {
    throw new KilnError(`--release-url ${JSON.stringify(releaseUrl)} is not a URL`, { exitCode: EXIT.invalid });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new KilnError(`--release-url ${releaseUrl} must be an http(s) URL`, { exitCode: EXIT.invalid });
  }
  if (u.search || u.hash) throw new KilnError(`--release-url ${releaseUrl} must not carry a query or fragment`, { exitCode: EXIT.invalid });
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u.toString();
}

export function releaseFileUrl(base: string, file: string): string {
  return new URL(file, base).toString();
}

export interface ParsedSums {
  /** File name -> lowercase sha256. */
  sums: Map<string, string>;
  /** Lines that are neither blank nor `<sha256>  <file>`, or name a file twice with another hash. */
  malformed: { line: number; text: string }[];
}

/** Upstream's sums file (src/util/sha256sums.ts reads the lines); a file listed twice with two hashes is malformed too. */
export function parseSums(text: string): ParsedSums {
  const read = readSha256Sums(text);
  const sums = new Map<string, string>();
  const malformed = [...read.malformed];
  for (const e of read.entries) {
    const seen = sums.get(e.file);
    if (seen !== undefined && seen !== e.sha256) malformed.push({ line: e.line, text: `${e.sha256}  ${e.file}` });
    else sums.set(e.file, e.sha256);
  }
  return { sums, malformed: malformed.sort((a, b) => a.line - b.line) };
}

/**
 * The sha256 of each file kiln pins, from the sums file fetched from `url`. A malformed line
 * refuses the whole file: it is more likely an error page or a truncated transfer than a sums file.
 */
export function k3sSums(text: string, url: string): Record<string, string> {
  const { sums, malformed } = parseSums(text);
  const bad = malformed[0];
  if (bad) {
    throw new KilnError(`${url}: line ${bad.line} is not "<sha256>  <file>": ${JSON.stringify(bad.text.slice(0, 120))}`, {
      exitCode: EXIT.invalid,
      hint: `${malformed.length} malformed line(s); is --release-url pointing at a k3s release?`,
    });
  }
  const out: Record<string, string> = {};
  for (const { file } of K3S_PINS) {
    const sha = sums.get(file);
    if (!sha) throw new KilnError(`${url} has no entry for ${file} (it lists: ${[...sums.keys()].join(', ') || 'nothing'})`, { exitCode: EXIT.invalid });
    out[file] = sha;
  }
  return out;
}

export interface K3sPin {
  artifact: string;
  version: string;
  url: string;
  sha256: string;
}

const PINNED_FIELDS = ['version', 'url', 'sha256'] as const;

interface Located {
  artifacts: YAMLMap;
  entries: { artifact: string; keyStart: number; fields: Record<(typeof PINNED_FIELDS)[number], Scalar> }[];
}

function locate(text: string, file: string): Located {
  const doc = parseDocument(text);
  const [err] = doc.errors;
  if (err) throw new KilnError(`${file}: not valid YAML: ${err.message}`, { exitCode: EXIT.invalid });
  const artifacts = doc.get('artifacts', true);
  if (!isMap(artifacts)) {
    throw new KilnError(`${file}: artifacts: no mapping in this file; kiln pin rewrites the file that declares the k3s pins`, {
      exitCode: EXIT.invalid,
    });
  }
  const entries = K3S_PINS.map(({ artifact }) => {
    const pair = artifacts.items.find((p) => isScalar(p.key) && p.key.value === artifact);
    const entry = pair?.value;
    const keyStart = isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
    if (!isMap(entry) || keyStart === undefined) {
      throw new KilnError(`${file}: artifacts.${artifact}: missing or not a mapping in this file`, { exitCode: EXIT.invalid });
    }
    const fields = {} as Record<(typeof PINNED_FIELDS)[number], Scalar>;
    for (const f of PINNED_FIELDS) {
      const node = entry.get(f, true);
      if (!isScalar(node) || !node.range) {
        throw new KilnError(`${file}: artifacts.${artifact}.${f}: missing or not a single value`, { exitCode: EXIT.invalid });
      }
      fields[f] = node;
    }
    return { artifact, keyStart, fields };
  });
  return { artifacts, entries };
}

/** The current pins, read before anything is downloaded so a spec kiln cannot rewrite fails early. */
export function currentPins(text: string, file: string): K3sPin[] {
  return locate(text, file).entries.map((e) => ({
    artifact: e.artifact,
    version: String(e.fields.version.value),
    url: String(e.fields.url.value),
    sha256: String(e.fields.sha256.value),
  }));
}

/** The value as YAML text, in the quoting the old value had; plain only where it reads back as the same string. */
function render(value: string, old: Scalar): string {
  if (old.type === 'QUOTE_SINGLE') return `'${value.replaceAll("'", "''")}'`;
  if (old.type === 'PLAIN' && !/[\n#]/.test(value)) {
    try {
      if ((parse(`k: ${value}\n`) as { k?: unknown } | null)?.k === value) return value;
    } catch {
      // not plain-safe: quoted below
    }
  }
  return JSON.stringify(value);
}

/** The comment kiln writes above the pins, at the entries' indentation. */
export function pinComment(version: string, date: string, indent: string): string {
  return [
    `${indent}# Checked against upstream's ${SUMS_FILE} of ${version} by \`kiln pin k3s\` on ${date}: both`,
    `${indent}# files were downloaded and hashed. kiln cache add accepts a downloaded file only if it matches.`,
    '',
  ].join('\n');
}

export interface Rewritten {
  text: string;
  /** False when the pins sit where kiln cannot put a comment above them (a flow mapping); the old comment stays. */
  commented: boolean;
}

/**
 * The spec text with the k3s pins' version, url and sha256 replaced and every other byte kept.
 * The yaml package's Document.toString() re-renders the whole file (it re-spaces inline comments and
 * flow lists), so the document is used to find each value's place in the text and only those
 * spans are replaced; the result is parsed again and must differ from the old one in the pins alone.
 *
 * The comment block directly above the first pin is replaced when it is about the pins (it names
 * the sums file, as kiln's own does); any other comment there stays and kiln's goes below it.
 */
export function rewritePins(text: string, file: string, pins: readonly K3sPin[], note: { version: string; date: string }): Rewritten {
  const { entries } = locate(text, file);
  const edits: { start: number; end: number; text: string }[] = [];
  for (const e of entries) {
    const pin = pins.find((p) => p.artifact === e.artifact);
    if (!pin) throw new Error(`internal: no new pin for ${e.artifact}`);
    for (const f of PINNED_FIELDS) {
      const node = e.fields[f];
      const [start, end] = node.range ?? [0, 0];
      edits.push({ start, end, text: render(pin[f], node) });
    }
  }
  const first = Math.min(...entries.map((e) => e.keyStart));
  const lineStart = text.lastIndexOf('\n', first - 1) + 1;
  const indent = text.slice(lineStart, first);
  const commented = /^[ \t]*$/.test(indent);
  if (commented) {
    let blockStart = lineStart;
    while (blockStart > 0) {
      const prev = text.lastIndexOf('\n', blockStart - 2) + 1;
      if (!/^[ \t]*#/.test(text.slice(prev, blockStart))) break;
      blockStart = prev;
    }
    const replace = text.slice(blockStart, lineStart).includes(SUMS_FILE);
    edits.push({ start: replace ? blockStart : lineStart, end: lineStart, text: pinComment(note.version, note.date, indent) });
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  check(text, out, file, pins);
  return { text: out, commented };
}

/** The rewrite changed the pins and nothing else a parser sees; each new entry is a valid artifact. */
function check(before: string, after: string, file: string, pins: readonly K3sPin[]): void {
  const doc = parseDocument(after);
  if (doc.errors.length) throw new Error(`internal: rewriting ${file} made invalid YAML: ${doc.errors[0]?.message}`);
  const expected = parse(before) as { artifacts: Record<string, Record<string, unknown>> };
  for (const p of pins) expected.artifacts[p.artifact] = { ...expected.artifacts[p.artifact], version: p.version, url: p.url, sha256: p.sha256 };
  const actual = doc.toJS() as { artifacts: Record<string, unknown> };
  if (!isDeepStrictEqual(actual, expected)) throw new Error(`internal: rewriting ${file} changed more than the k3s pins`);
  for (const p of pins) {
    const r = artifactSchema.safeParse(actual.artifacts[p.artifact]);
    if (!r.success) throw new KilnError(`${file}: artifacts.${p.artifact}: the new pin is invalid: ${firstIssue(r.error)}`, { exitCode: EXIT.invalid });
  }
}
