import { describe, expect, it } from 'vitest';
import { armor, dearmor, parseAllowedSignerLine, parsePublicKeyLine, parseSshSignature, trustFrom } from '../../../src/provenance/sshsig.js';
import { refusal } from '../../helpers/refusal.js';

// A real key and signature made once with OpenSSH 9.2 (`ssh-keygen -Y sign -n file -f key` over
// "hello\n"); the fingerprint is what `ssh-keygen -lf key.pub` printed for it.
const PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIappfPSkqaKLuwGEwQKLsoBVZfcrXKdMzERDICRMOlF test';
const FP = 'SHA256:8y6SSVYGxlsC3QiNmU5aB1iuiAczYuGeMdMCe6/aHAM';
const SIG = `-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAghqml89KSpoou7AYTBAouygFVl9
ytcp0zMREMgJEw6UUAAAAEZmlsZQAAAAAAAAAGc2hhNTEyAAAAUwAAAAtzc2gtZWQyNTUx
OQAAAEAACaK4/v3LM6Lid3riDeFiwcKclC8Rue2xaQa4sZWGJ3LO1B4rtSZUVf3q/Rmc81
+Y6cpjzysBDQxa0AD/knUB
-----END SSH SIGNATURE-----
`;

describe('SSHSIG and OpenSSH key lines', () => {
  it('reads what ssh-keygen -Y sign wrote: key, namespace, hash, and re-armors it byte for byte', () => {
    const blob = dearmor(SIG);
    if (!blob) throw new Error('not dearmored');
    const s = parseSshSignature(blob);
    if ('error' in s) throw new Error(s.error);
    expect(s.publicKey.type).toBe('ssh-ed25519');
    expect(s.publicKey.fingerprint).toBe(FP);
    expect(s.namespace).toBe('file');
    expect(s.hashAlgorithm).toBe('sha512');
    expect(s.signature.subarray(4, 15).toString()).toBe('ssh-ed25519');
    expect(armor(blob)).toBe(SIG);
  });

  it('names what is wrong with a damaged signature instead of throwing', () => {
    const blob = dearmor(SIG) as Buffer;
    expect(parseSshSignature(blob.subarray(0, 40))).toEqual({ error: 'truncated' });
    const bad = Buffer.from(blob);
    bad[0] = 0x58;
    expect(parseSshSignature(bad)).toEqual({ error: 'no SSHSIG magic' });
    expect(dearmor('hello')).toBeUndefined();
    expect(dearmor(SIG.replace('U1NI', 'U1N!'))).toBeUndefined();
  });

  it('reads public key and allowed_signers lines, options with quoted commas included', () => {
    const k = parsePublicKeyLine(PUB);
    expect(k?.fingerprint).toBe(FP);
    expect(parsePublicKeyLine('ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIappfPSkqaKLuwGEwQKLsoBVZfcrXKdMzERDICRMOlF')).toBeUndefined(); // type and blob disagree
    const s = parseAllowedSignerLine(`ci@example.org,rel@example.org namespaces="file,kiln-provenance" ${PUB}`);
    expect(s?.principals).toEqual(['ci@example.org', 'rel@example.org']);
    expect(s?.options).toBe('namespaces="file,kiln-provenance"');
    expect(s?.key.fingerprint).toBe(FP);
    expect(parseAllowedSignerLine(`kiln ${PUB}`)?.options).toBeUndefined();
  });

  it('takes a .pub file as trusted under one identity, and an allowed_signers file only with --identity', () => {
    const t = trustFrom(`${PUB}\n`, 'k.pub');
    expect(t.identity).toBe('kiln');
    expect(t.allowedSigners).toBe(`kiln ${PUB.split(' ').slice(0, 2).join(' ')}\n`);
    expect(t.keys.map((k) => k.fingerprint)).toEqual([FP]);
    const signers = `# release keys\nrel@example.org ${PUB}\n*@ci.example.org ${PUB}\n`;
    expect(refusal(() => trustFrom(signers, 'allowed_signers')).message).toMatch(/allowed_signers file: --identity names the signer/);
    expect(trustFrom(signers, 'allowed_signers', 'rel@example.org').keys).toHaveLength(1);
    expect(trustFrom(signers, 'allowed_signers', 'x@ci.example.org').keys).toHaveLength(1);
    expect(trustFrom(signers, 'allowed_signers', 'someone@else').keys).toHaveLength(0);
    expect(refusal(() => trustFrom('-----BEGIN OPENSSH PRIVATE KEY-----\n', 'key')).message).toMatch(/is a private key/);
    expect(refusal(() => trustFrom('hello world\n', 'x')).message).toMatch(/neither OpenSSH public keys nor an allowed_signers file/);
    expect(refusal(() => trustFrom(PUB, 'k.pub', 'two words')).message).toMatch(/--identity/);
  });
});
