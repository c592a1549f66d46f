import { createHash } from 'node:crypto';
import { KilnError } from '../util/errors.js';

// OpenSSH's own formats, read without running ssh-keygen: the SSHSIG signature (PROTOCOL.sshsig:
// the armored text ssh-keygen -Y sign writes and the binary blob inside it), public key lines and
// allowed_signers lines (ssh-keygen(1), ALLOWED SIGNERS). Only ssh-keygen decides whether a
// signature is good; these parsers name what a signature holds so a failure can say why.

const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
const MAGIC = 'SSHSIG';

/** Key types an allowed_signers or public key line may name (ssh-keygen 9.x). */
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export interface PublicKey {
  /** e.g. ssh-ed25519 */
  type: string;
  /** The key blob (RFC 4253 wire format). */
  blob: Buffer;
  /** `SHA256:<unpadded base64>`, as ssh-keygen -l prints it. */
  fingerprint: string;
}

export interface SshSignature {
  publicKey: PublicKey;
  namespace: string;
  hashAlgorithm: string;
  /** The signature proper (its own type string and bytes). */
  signature: Buffer;
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The SSHSIG blob inside ssh-keygen's armor; undefined when the text is not armored that way. */
export function dearmor(text: string): Buffer | undefined {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) return undefined;
  const body = text.slice(start + BEGIN.length, end).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) return undefined;
  return Buffer.from(body, 'base64');
}

/** The armored text ssh-keygen writes and reads: the blob in base64, 70 characters a line. */
export function armor(blob: Buffer): string {
  const b64 = blob.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 70) lines.push(b64.slice(i, i + 70));
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  bytes(n: number): Buffer {
    if (this.at + n > this.buf.length) throw new Error('truncated');
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  u32(): number {
    return this.bytes(4).readUInt32BE(0);
  }
  string(): Buffer {
    return this.bytes(this.u32());
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }
}

function keyType(blob: Buffer): string {
  return new Reader(blob).string().toString('latin1');
}

/** A parsed SSHSIG blob, or why it is not one. */
export function parseSshSignature(blob: Buffer): SshSignature | { error: string } {
  try {
    const r = new Reader(blob);
    if (r.bytes(MAGIC.length).toString('latin1') !== MAGIC) return { error: 'no SSHSIG magic' };
    const version = r.u32();
    if (version !== 1) return { error: `SSHSIG version ${version}, expected 1` };
    const key = r.string();
    const namespace = r.string().toString('utf8');
    r.string(); // reserved
    const hashAlgorithm = r.string().toString('latin1');
    const signature = r.string();
    if (!r.done) return { error: 'trailing bytes after the signature' };
    return {
      publicKey: { type: keyType(key), blob: Buffer.from(key), fingerprint: fingerprint(key) },
      namespace,
      hashAlgorithm,
      signature: Buffer.from(signature),
    };
  } catch {
    return { error: 'truncated' };
  }
}

/** `<type> <base64> [comment]` as in a .pub file; undefined when the line is not one. */
export function parsePublicKeyLine(line: string): PublicKey | undefined {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64 || !KEY_TYPES.has(type)) return undefined;
  const blob = Buffer.from(b64, 'base64');
  try {
    if (keyType(blob) !== type) return undefined;
  } catch {
    return undefined;
  }
  return { type, blob, fingerprint: fingerprint(blob) };
}

export interface AllowedSigner {
  principals: string[];
  options: string | undefined;
  key: PublicKey;
}

/** Splits at spaces outside double quotes (allowed_signers options may quote, e.g. namespaces="a,b"). */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && /\s/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** `principals [options] keytype base64 [comment]`; undefined when the line is not one. */
export function parseAllowedSignerLine(line: string): AllowedSigner | undefined {
  const f = fields(line.trim());
  const principals = f[0];
  if (!principals) return undefined;
  const withOptions = f[1] !== undefined && !KEY_TYPES.has(f[1]);
  const key = parsePublicKeyLine(f.slice(withOptions ? 2 : 1).join(' '));
  if (!key) return undefined;
  return { principals: principals.split(','), options: withOptions ? f[1] : undefined, key };
}

/** ssh's pattern matching (`*`, `?`, a leading `!` negates) over a principal. */
function principalMatches(patterns: readonly string[], identity: string): boolean {
  let matched = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    const glob = negated ? p.slice(1) : p;
    const re = new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replaceAll('*', '.*')
        .replaceAll('?', '.')}$`,
    );
    if (re.test(identity)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** What `kiln verify --key` trusts: the allowed_signers text ssh-keygen gets, the identity, and the keys it lists for it. */
export interface Trust {
  allowedSigners: string;
  identity: string;
  keys: PublicKey[];
  /** The file named with --key, for messages. */
  source: string;
}

const significant = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

/**
 * The --key file: OpenSSH public keys (a .pub file, one key a line: all trusted, under `identity`,
 * default "kiln") or an allowed_signers file (then `identity` is required and picks its lines).
 */
export function trustFrom(text: string, source: string, identity?: string): Trust {
  if (text.includes('PRIVATE KEY-----'))
    throw new KilnError(`--key ${source} is a private key`, { hint: 'give its public half (the .pub file) or an allowed_signers file' });
  const lines = significant(text);
  if (lines.length === 0) throw new KilnError(`--key ${source} is empty`);
  const pubs = lines.map(parsePublicKeyLine);
  if (identity !== undefined && !/^[^\s,"*?!]+$/.test(identity))
    throw new KilnError(`--identity "${identity}": a signer name without spaces, commas, quotes or wildcards`);
  if (pubs.every((k) => k !== undefined)) {
    const id = identity ?? 'kiln';
    const keys = pubs.filter((k) => k !== undefined);
    return { allowedSigners: keys.map((k) => `${id} ${k.type} ${k.blob.toString('base64')}\n`).join(''), identity: id, keys, source };
  }
  const signers = lines.map(parseAllowedSignerLine);
  const bad = signers.indexOf(undefined);
  if (bad >= 0)
    throw new KilnError(`--key ${source}: neither OpenSSH public keys nor an allowed_signers file (line "${(lines[bad] ?? '').slice(0, 60)}")`, {
      hint: 'a .pub file ("ssh-ed25519 AAAA... comment") or allowed_signers lines ("principal ssh-ed25519 AAAA...")',
    });
  if (identity === undefined) throw new KilnError(`--key ${source} is an allowed_signers file: --identity names the signer to accept`);
  const keys = signers.filter((s) => s !== undefined && principalMatches(s.principals, identity)).map((s) => (s as AllowedSigner).key);
  return { allowedSigners: `${lines.join('\n')}\n`, identity, keys, source };
}
