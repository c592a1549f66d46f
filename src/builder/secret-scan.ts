import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileEntry } from '../manifest/schema.js';

// An image is shared by the whole fleet, so anything unique to a node or secret to the cluster must
// never be in it. This scan runs on every build (the build fails on a finding) and in the tests.

/** Paths that would carry per-node identity or cluster secrets. */
const FORBIDDEN_PATHS: { re: RegExp; why: string; unlessEmpty?: boolean }[] = [
  { re: /^\/etc\/ssh\/ssh_host_.*key(\.pub)?$/, why: 'ssh host key (made per node at first boot)' },
  { re: /^\/etc\/machine-id$/, why: 'machine-id must be empty in an image', unlessEmpty: true },
  { re: /^\/var\/lib\/systemd\/random-seed$/, why: 'random seed' },
  { re: /^\/etc\/rancher\/k3s\/config\.yaml$/, why: 'k3s node config (token, server URL) comes from cloud-init' },
  { re: /^\/var\/lib\/rancher\/k3s\/server\/(token|node-token|cred|tls)(\/|$)/, why: 'k3s cluster secret' },
  { re: /^\/etc\/kiln\/node\.env$/, why: 'per-node kiln credentials come from cloud-init' },
  { re: /^\/var\/lib\/cloud\/instances?\//, why: 'cloud-init instance data from a previous boot' },
  { re: /^\/root\/\.ssh\/(id_|authorized_keys)/, why: 'root ssh keys' },
  { re: /^\/home\/[^/]+\/\.ssh\/(id_|authorized_keys)/, why: 'user ssh keys' },
];

export interface SecretPattern {
  name: string;
  re: RegExp;
  /** A literal every match contains: a native indexOf rules out nearly every file before any regex runs. */
  needle: string;
}

/** Byte patterns of secrets: private keys in PEM/OpenSSH form, k3s join tokens. */
export const SECRET_PATTERNS: SecretPattern[] = [
  { name: 'OpenSSH private key', re: /-----BEGIN OPENSSH PRIVATE KEY-----[\r\n]+[A-Za-z0-9+/=]{20}/, needle: '-----BEGIN OPENSSH PRIVATE KEY-----' },
  { name: 'PEM private key', re: /-----BEGIN (RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----[\r\n]+[A-Za-z0-9+/=]{20}/, needle: 'PRIVATE KEY-----' },
  { name: 'k3s token', re: /K10[0-9a-f]{40,}::(server|node):[0-9a-f]{8,}/, needle: 'K10' },
];

const OVERLAP = 4096;

/**
 * Matches the secret patterns against one file's bytes as they arrive, chunk by chunk (a file read
 * for hashing anyway is scanned in the same pass). The tail of each chunk is carried into the next,
 * so a match across a chunk boundary is still seen; a file in one chunk is matched as a whole.
 */
export class ContentMatcher {
  readonly found = new Set<string>();
  private carry: Buffer = Buffer.alloc(0);

  constructor(private readonly patterns: readonly SecretPattern[] = SECRET_PATTERNS) {}

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let text: string | undefined;
    for (const p of this.patterns) {
      if (this.found.has(p.name) || buf.indexOf(p.needle, 0, 'latin1') < 0) continue;
      // latin1 keeps one char per byte
      text ??= buf.toString('latin1');
      if (p.re.test(text)) this.found.add(p.name);
    }
    this.carry = Buffer.from(buf.subarray(Math.max(0, buf.length - OVERLAP)));
  }
}

export interface Finding {
  where: string;
  what: string;
}

export function scanFileList(entries: readonly FileEntry[]): Finding[] {
  const out: Finding[] = [];
  for (const e of entries) {
    for (const f of FORBIDDEN_PATHS) {
      if (!f.re.test(e.path)) continue;
      if (f.unlessEmpty && e.size === 0) continue;
      out.push({ where: e.path, what: f.why });
    }
  }
  return out;
}

/**
 * Streams the raw bytes of a file (the whole disk image) through the secret patterns. Chunks overlap
 * so a match across a chunk boundary is still seen. Reading as latin1 keeps one char per byte.
 */
export async function scanBytes(path: string, patterns: readonly SecretPattern[] = SECRET_PATTERNS): Promise<Finding[]> {
  const out: Finding[] = [];
  const overlap = 4096;
  let carry = '';
  let base = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    const text = carry + (chunk as Buffer).toString('latin1');
    for (const p of patterns) {
      const re = new RegExp(p.re.source, 'g');
      for (const m of text.matchAll(re)) {
        const at = base - carry.length + (m.index ?? 0);
        if (!out.some((f) => f.where === `byte ${at}`)) out.push({ where: `byte ${at}`, what: p.name });
      }
    }
    carry = text.slice(-overlap);
    base += (chunk as Buffer).length;
  }
  return out;
}

/** md5 of every file dpkg installed, from the tree's own /var/lib/dpkg/info/*.md5sums. */
async function packageMd5s(root: string): Promise<Map<string, string>> {
  const dir = join(root, 'var/lib/dpkg/info');
  const out = new Map<string, string>();
  for (const n of (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.md5sums'))) {
    for (const line of (await readFile(join(dir, n), 'utf8')).split('\n')) {
      const [, md5, path] = /^([0-9a-f]{32}) {2}(.+)$/.exec(line) ?? [];
      if (md5 !== undefined && path !== undefined) out.set(`/${path}`, md5);
    }
  }
  return out;
}

/**
 * Scans the content of every regular file. A match is forgiven only in a public file: one dpkg's
 * md5sums vouch for (shipped by a locked package, unmodified) or a pinned artifact. Public files may
 * hold key material legitimately (libgnutls embeds a self-test EC key); anything generated during
 * the build or written by the overlay may not.
 */
export async function scanTreeContent(
  root: string,
  entries: readonly FileEntry[],
  publicSha256: ReadonlySet<string>,
): Promise<{ findings: Finding[]; scanned: number }> {
  const matches = new Map<string, string[]>();
  let scanned = 0;
  for (const e of entries) {
    if (e.type !== 'file') continue;
    if (e.sha256 && publicSha256.has(e.sha256)) continue;
    scanned++;
    const m = new ContentMatcher();
    m.push(await readFile(join(root, e.path)));
    if (m.found.size) matches.set(e.path, [...m.found]);
  }
  return { findings: await contentFindings(root, entries, matches, publicSha256), scanned };
}

/**
 * Turns pattern matches (path → pattern names) into findings, forgiving public files. Only the few
 * files that matched pay for the md5 check.
 */
export async function contentFindings(
  root: string,
  entries: readonly FileEntry[],
  matches: ReadonlyMap<string, readonly string[]>,
  publicSha256: ReadonlySet<string>,
): Promise<Finding[]> {
  if (matches.size === 0) return [];
  const md5s = await packageMd5s(root);
  const findings: Finding[] = [];
  for (const e of entries) {
    const names = matches.get(e.path);
    if (e.type !== 'file' || !names) continue;
    if (e.sha256 && publicSha256.has(e.sha256)) continue;
    const shipped = md5s.get(e.path);
    if (
      shipped &&
      createHash('md5')
        .update(await readFile(join(root, e.path)))
        .digest('hex') === shipped
    )
      continue;
    findings.push(...SECRET_PATTERNS.filter((p) => names.includes(p.name)).map((p) => ({ where: e.path, what: p.name })));
  }
  return findings;
}
