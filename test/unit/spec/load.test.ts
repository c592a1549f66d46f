import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSpec, mergeSpecs, SpecError } from '../../../src/spec/load.js';
import { tempDir } from '../../helpers/tmp.js';

const base = `
name: base
sourceDateEpoch: 1700000000
debian: { suite: trixie, mirror: http://deb.debian.org/debian, components: [main] }
packages: [systemd]
boards: [virt]
disk: { bootSizeMiB: 128, rootSizeMiB: 512 }
boot: { configTxt: [arm_64bit=1], cmdline: [rootwait] }
artifacts:
  tool:
    description: a tool
    version: "1"
    url: files/tool.bin
    sha256: ${'a'.repeat(64)}
    install: /usr/local/bin/tool
`;

async function dir(files: Record<string, string>): Promise<string> {
  const d = tempDir('spec');
  for (const [n, c] of Object.entries(files)) await writeFile(join(d, n), c);
  return d;
}

describe('spec loading', () => {
  it('loads the shipped specs', async () => {
    const a = await loadSpec('images/pi-k3s.yaml');
    const b = await loadSpec('images/pi-k3s-test.yaml');
    expect(a.spec.artifacts.k3s?.version).toBe('v1.36.4+k3s1');
    expect(b.spec.artifacts.k3s).toBeUndefined();
    expect(b.spec.artifacts['k3s-test-fixture']?.description).toMatch(/TEST FIXTURE/);
    expect(b.spec.boot.cmdline).toContain('cgroup_enable=memory');
    // the test variant only swaps artifacts: same closure, so one lock shape serves both
    expect(b.packagesHash).toBe(a.packagesHash);
    expect(b.sha256).not.toBe(a.sha256);
  });

  it('resolves extends: objects merge, arrays replace, null removes', async () => {
    const d = await dir({
      'base.yaml': base,
      'child.yaml': 'extends: base.yaml\nname: child\npackages: [systemd, curl]\ndisk: { rootSizeMiB: 1024 }\nartifacts: { tool: null }\n',
    });
    const l = await loadSpec(join(d, 'child.yaml'));
    expect(l.spec.name).toBe('child');
    expect(l.spec.packages).toEqual(['systemd', 'curl']);
    expect(l.spec.disk).toMatchObject({ bootSizeMiB: 128, rootSizeMiB: 1024 });
    expect(l.spec.artifacts).toEqual({});
  });

  it('resolves an artifact path against the file that declared it, not the child', async () => {
    const d = await dir({ 'base.yaml': base });
    const sub = join(d, 'sub');
    await (await import('node:fs/promises')).mkdir(sub);
    await writeFile(join(sub, 'child.yaml'), 'extends: ../base.yaml\nname: child\n');
    const l = await loadSpec(join(sub, 'child.yaml'));
    expect(l.artifactSources.tool).toBe(join(d, 'files/tool.bin'));
  });

  it('lists every problem by field path, unknown keys included', async () => {
    const d = await dir({
      'bad.yaml': `${base.replace('name: base', 'name: Bad_Name').replace('rootSizeMiB: 512', 'rootSizeMiB: 1')}colour: blue\n`,
    });
    const err = await loadSpec(join(d, 'bad.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpecError);
    const msg = (err as SpecError).message;
    expect(msg).toMatch(/name: must be lowercase/);
    expect(msg).toMatch(/disk\.rootSizeMiB/);
    expect(msg).toMatch(/colour|Unrecognized key/);
    expect((err as SpecError).problems.length).toBeGreaterThanOrEqual(3);
  });

  it('rejects bad artifact pins and paths', async () => {
    const d = await dir({ 'b.yaml': base.replace(`sha256: ${'a'.repeat(64)}`, 'sha256: abc').replace('install: /usr/local/bin/tool', 'install: ../etc/x') });
    const msg = ((await loadSpec(join(d, 'b.yaml')).catch((e: unknown) => e)) as Error).message;
    expect(msg).toMatch(/artifacts\.tool\.sha256/);
    expect(msg).toMatch(/artifacts\.tool\.install/);
  });

  it('reports an extends cycle and YAML errors with the file', async () => {
    const d = await dir({ 'a.yaml': 'extends: b.yaml\n', 'b.yaml': 'extends: a.yaml\n', 'y.yaml': 'name: [unclosed\n' });
    await expect(loadSpec(join(d, 'a.yaml'))).rejects.toThrow(/cycle/);
    await expect(loadSpec(join(d, 'y.yaml'))).rejects.toThrow(/y\.yaml[\s\S]*YAML/);
  });

  it('takes a package from an extra suite only when the spec names that suite', async () => {
    const debian = 'debian: { suite: trixie, extraSuites: [trixie-backports], mirror: http://deb.debian.org/debian, components: [main] }';
    const d = await dir({
      'ok.yaml': base.replace(/^debian: .*$/m, debian).replace('packages: [systemd]', 'packages: [systemd, linux-base/trixie-backports]'),
      'bad.yaml': base.replace('packages: [systemd]', 'packages: [systemd, linux-base/trixie-backports]'),
      'noboard.yaml': base.replace('boards: [virt]', 'boards: [pi9]'),
    });
    const ok = await loadSpec(join(d, 'ok.yaml'));
    expect(ok.spec.packages).toContain('linux-base/trixie-backports');
    await expect(loadSpec(join(d, 'bad.yaml'))).rejects.toThrow(/packages\.1: linux-base\/trixie-backports: suite trixie-backports is not debian\.suite/);
    await expect(loadSpec(join(d, 'noboard.yaml'))).rejects.toThrow(/boards\.0/);
  });

  it('mergeSpecs is pure', () => {
    const a = { x: { y: 1, z: [1, 2] }, k: 1 };
    expect(mergeSpecs(a, { x: { z: [3] }, k: null })).toEqual({ x: { y: 1, z: [3] } });
    expect(a).toEqual({ x: { y: 1, z: [1, 2] }, k: 1 });
  });
});
