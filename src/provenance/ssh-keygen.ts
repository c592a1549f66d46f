import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KilnError } from '../util/errors.js';
import { run, tail, ToolError } from '../util/exec.js';
import { armor, parsePublicKeyLine, type PublicKey, type Trust } from './sshsig.js';

// Signing and verifying with the system's ssh-keygen (-Y sign, -Y verify): kiln holds no key
// material itself and its signatures are exactly what stock ssh-keygen makes and checks.

/** SHA256SUMS.sig: the namespace `ssh-keygen -Y sign` documents for files. */
export const FILE_NAMESPACE = 'file';
/** The DSSE signature: its own namespace, so a signature over one can never pass for the other. */
export const PROVENANCE_NAMESPACE = 'kiln-provenance';

export interface SigningKey {
  /** The file given to --sign: a private key, or a public key whose private half ssh-agent holds. */
  path: string;
  publicKey: PublicKey;
  agent: boolean;
}

/**
 * Checks a --sign key before any work is done: an unencrypted private key (ed25519, RSA, ECDSA), or
 * a public key held by ssh-agent. A passphrase-protected key is refused: kiln never prompts (the
 * prompt would stall a build or CI job), ssh-agent is the way to use one.
 */
export async function loadSigningKey(file: string): Promise<SigningKey> {
  const path = resolve(file);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) throw new KilnError(`--sign ${file}: no such key file`);
  const pub = parsePublicKeyLine(text.split('\n')[0] ?? '');
  if (pub) {
    if (!process.env.SSH_AUTH_SOCK)
      throw new KilnError(`--sign ${file} is a public key: signing with it needs ssh-agent holding its private half, and SSH_AUTH_SOCK is not set`, {
        hint: 'start ssh-agent and ssh-add the private key, or give the private key file',
      });
    const held = await run('ssh-add', ['-L']).catch(() => undefined);
    const inAgent = (held?.stdout ?? '').split('\n').some((l) => parsePublicKeyLine(l)?.fingerprint === pub.fingerprint);
    if (!inAgent)
      throw new KilnError(`--sign ${file}: ssh-agent (SSH_AUTH_SOCK) does not hold this key (${pub.fingerprint})`, { hint: `ssh-add the private key first` });
    return { path, publicKey: pub, agent: true };
  }
  if (!text.includes('PRIVATE KEY-----')) throw new KilnError(`--sign ${file}: not an OpenSSH private or public key`);
  // -P '': never prompt; a key with a passphrase fails here instead of asking for it
  const derived = await run('ssh-keygen', ['-y', '-P', '', '-f', path], { input: '' }).catch((err: unknown) => {
    if (err instanceof ToolError && /passphrase/i.test(err.stderrTail))
      throw new KilnError(`--sign ${file} is protected by a passphrase, and kiln does not prompt for one`, {
        hint: `ssh-add ${file}, then give its public key: --sign ${file}.pub (signed through ssh-agent)`,
      });
    throw err;
  });
  const key = parsePublicKeyLine(derived.stdout);
  if (!key) throw new KilnError(`--sign ${file}: ssh-keygen -y gave no public key for it`);
  return { path, publicKey: key, agent: false };
}

/** `ssh-keygen -Y sign -n <namespace> -f <key>` over `data`: the armored SSHSIG. */
export async function sshSign(key: SigningKey, namespace: string, data: Buffer): Promise<string> {
  const r = await run('ssh-keygen', ['-Y', 'sign', '-n', namespace, '-f', key.path], { input: data });
  if (!r.stdout.includes('-----BEGIN SSH SIGNATURE-----')) throw new KilnError(`ssh-keygen -Y sign -n ${namespace} -f ${key.path} wrote no signature`);
  return r.stdout;
}

export type SshVerdict = { good: true; detail: string } | { good: false; why: string };

/**
 * `ssh-keygen -Y verify` of an SSHSIG blob over `data` for the trusted identity, through a private
 * temp allowed_signers file. Exit 255 is a bad signature (the verdict says ssh-keygen's reason);
 * anything else (no ssh-keygen) is an error.
 */
export async function sshVerify(trust: Trust, namespace: string, data: Buffer, sigBlob: Buffer): Promise<SshVerdict> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-sshsig-'));
  try {
    const signers = join(dir, 'allowed_signers');
    const sig = join(dir, 'data.sig');
    await writeFile(signers, trust.allowedSigners);
    await writeFile(sig, armor(sigBlob));
    try {
      const r = await run('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', trust.identity, '-n', namespace, '-s', sig], { input: data });
      return { good: true, detail: r.stdout.trim() };
    } catch (err) {
      if (err instanceof ToolError && err.status === 255) return { good: false, why: tail(err.stderrTail, 1) || 'ssh-keygen -Y verify refused it' };
      throw err;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
