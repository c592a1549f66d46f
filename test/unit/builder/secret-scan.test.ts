import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanBytes, scanFileList } from '../../../src/builder/secret-scan.js';
import type { FileEntry } from '../../../src/manifest/schema.js';
import { tempDir } from '../../helpers/tmp.js';

const f = (path: string, size = 10): FileEntry => ({ path, type: 'file', mode: '0644', uid: 0, gid: 0, size, mtime: 0 });

describe('secret scan', () => {
  it('flags per-node files and accepts an empty machine-id', () => {
    const found = scanFileList([
      f('/etc/ssh/ssh_host_ed25519_key'),
      f('/etc/machine-id', 0),
      f('/etc/rancher/k3s/config.yaml'),
      f('/etc/kiln/node.env'),
      f('/usr/bin/ls'),
    ]);
    expect(found.map((x) => x.where)).toEqual(['/etc/ssh/ssh_host_ed25519_key', '/etc/rancher/k3s/config.yaml', '/etc/kiln/node.env']);
    expect(scanFileList([f('/etc/machine-id', 33)])).toHaveLength(1);
  });

  it('finds a private key and a k3s token in raw bytes, also across a chunk boundary', async () => {
    const d = tempDir('scan');
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n';
    const token = `K10${'ab'.repeat(32)}::server:${'cd'.repeat(16)}`;
    const buf = Buffer.alloc(9 << 20);
    buf.write(key, (4 << 20) - 20, 'latin1'); // straddles the first 4 MiB chunk
    buf.write(token, 7 << 20, 'latin1');
    await writeFile(join(d, 'img'), buf);
    const found = await scanBytes(join(d, 'img'));
    expect(found.map((x) => x.what).sort()).toEqual(['OpenSSH private key', 'k3s token']);
    await writeFile(join(d, 'clean'), Buffer.alloc(1 << 20, 0x41));
    expect(await scanBytes(join(d, 'clean'))).toEqual([]);
  });
});

describe('tree content scan', () => {
  it('skips package files dpkg vouches for and pinned artifacts, and finds keys anywhere else', async () => {
    const { mkdir } = await import('node:fs/promises');
    const { createHash } = await import('node:crypto');
    const { scanTreeContent } = await import('../../../src/builder/secret-scan.js');
    const root = tempDir('scan-tree');
    const key = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPAKWV7+pZe9c5EubMNfAEKWRQtP/MvlO9HehwHmJssNoAoGCCqGSM49\n';
    await mkdir(join(root, 'usr/lib'), { recursive: true });
    await mkdir(join(root, 'var/lib/dpkg/info'), { recursive: true });
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'usr/lib/libtls.so'), `ELF...${key}...`);
    await writeFile(join(root, 'usr/lib/tampered.so'), `ELF...${key}`);
    await writeFile(join(root, 'etc/generated.key'), key);
    await writeFile(join(root, 'etc/artifact'), `${key}artifact`);
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    await writeFile(join(root, 'var/lib/dpkg/info/libtls.md5sums'), `${md5(`ELF...${key}...`)}  usr/lib/libtls.so\n${md5('original')}  usr/lib/tampered.so\n`);
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    const entries = ['/usr/lib/libtls.so', '/usr/lib/tampered.so', '/etc/generated.key', '/etc/artifact'].map((path) => ({
      ...f(path),
      sha256: path === '/etc/artifact' ? sha(`${key}artifact`) : undefined,
    }));
    const r = await scanTreeContent(root, entries, new Set([sha(`${key}artifact`)]));
    expect(r.findings.map((x) => x.where).sort()).toEqual(['/etc/generated.key', '/usr/lib/tampered.so']);
  });
});

describe('content matcher', () => {
  it('finds a key split across chunks, and matches a single chunk as a whole file', async () => {
    const { ContentMatcher } = await import('../../../src/builder/secret-scan.js');
    const key = Buffer.from('xx-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n');
    const split = new ContentMatcher();
    split.push(key.subarray(0, 20));
    split.push(key.subarray(20));
    expect([...split.found]).toEqual(['OpenSSH private key']);
    const clean = new ContentMatcher();
    clean.push(Buffer.from('-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n K10 is not a token'));
    expect(clean.found.size).toBe(0);
  });
});
