import { describe, expect, it } from 'vitest';
import { lockSchema, serializeLock, type Lock } from '../../../src/lock/lockfile.js';
import { loadSpec } from '../../../src/spec/load.js';

const pkg = (name: string) => ({ name, version: '1', arch: 'arm64', sha256: 'a'.repeat(64), size: 1, filename: `pool/main/x/${name}_1_arm64.deb` });

describe('installer packages in the spec and the lock', () => {
  it('pi-k3s names busybox-static for the installer; it does not enter packagesHash', async () => {
    const loaded = await loadSpec('images/pi-k3s-test.yaml');
    expect(loaded.spec.installer?.packages).toEqual(['busybox-static']);
    expect(loaded.spec.packages).not.toContain('busybox-static');
    const lock = lockSchema.parse(JSON.parse(await (await import('node:fs/promises')).readFile('images/pi-k3s-test.lock.json', 'utf8')));
    expect(lock.packagesHash).toBe(loaded.packagesHash);
    expect(lock.installerPackages?.map((p) => p.name)).toEqual(['busybox-static']);
    expect(lock.packages.some((p) => p.name === 'busybox-static')).toBe(false);
  });
  it('the shipped pi-k3s lock still matches its spec: moving the k3s pins does not call for a re-lock', async () => {
    const loaded = await loadSpec('images/pi-k3s.yaml');
    const lock = lockSchema.parse(JSON.parse(await (await import('node:fs/promises')).readFile('images/pi-k3s.lock.json', 'utf8')));
    expect(lock.packagesHash).toBe(loaded.packagesHash);
  });
  it('older locks without installerPackages stay valid and serialise unchanged', () => {
    const lock: Lock = {
      lockVersion: 1,
      spec: 's',
      packagesHash: 'h',
      mirror: 'http://m',
      suite: 'trixie',
      architecture: 'arm64',
      releaseDate: 'd',
      packages: [pkg('b'), pkg('a')],
    };
    const text = serializeLock(lock);
    expect(text).not.toContain('installerPackages');
    expect(lockSchema.parse(JSON.parse(text)).packages.map((p) => p.name)).toEqual(['a', 'b']);
    const withInst = serializeLock({ ...lock, installerPackages: [pkg('z'), pkg('busybox-static')] });
    expect(lockSchema.parse(JSON.parse(withInst)).installerPackages?.map((p) => p.name)).toEqual(['busybox-static', 'z']);
  });
});

describe('lock file', () => {
  it('serializes sorted by name, so locks diff cleanly', () => {
    const text = serializeLock({
      lockVersion: 1,
      spec: 's',
      packagesHash: 'h',
      mirror: 'm',
      suite: 'trixie',
      architecture: 'arm64',
      releaseDate: 'd',
      packages: [pkg('zlib'), pkg('apt')],
    });
    const parsed = lockSchema.parse(JSON.parse(text));
    expect(parsed.packages.map((p) => p.name)).toEqual(['apt', 'zlib']);
  });
  it('rejects a tampered entry by field', () => {
    const r = lockSchema.safeParse({
      lockVersion: 1,
      spec: 's',
      packagesHash: 'h',
      mirror: 'm',
      suite: 't',
      architecture: 'arm64',
      releaseDate: 'd',
      packages: [{ ...pkg('a'), sha256: 'zz' }],
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues[0]?.path)).toBe('["packages",0,"sha256"]');
  });
});
