import { describe, expect, it } from 'vitest';
import { kernelPackages } from '../../../src/builder/kernel-facts.js';

const pkg = (name: string) => ({ name, version: '1', arch: 'arm64', sha256: 'a'.repeat(64), size: 1, filename: `pool/main/l/x/${name}_1_arm64.deb` });

describe('the kernel packages in a lock', () => {
  it('finds the split 7.x kernel (image, base, binary, modules) and not the meta or linux-base packages', () => {
    const lock = [
      'linux-base',
      'linux-image-arm64',
      'linux-image-7.3.4+deb13-arm64',
      'linux-base-7.3.4+deb13-arm64',
      'linux-binary-7.3.4+deb13-arm64',
      'linux-modules-7.3.4+deb13-arm64',
      'kmod',
    ].map(pkg);
    const k = kernelPackages(lock);
    expect(k.version).toBe('7.3.4+deb13-arm64');
    expect(k.debs.map((d) => d.name).sort()).toEqual([
      'linux-base-7.3.4+deb13-arm64',
      'linux-binary-7.3.4+deb13-arm64',
      'linux-image-7.3.4+deb13-arm64',
      'linux-modules-7.3.4+deb13-arm64',
    ]);
    expect(kernelPackages([pkg('linux-image-6.12.117+deb13-arm64'), pkg('linux-image-arm64')]).version).toBe('6.12.117+deb13-arm64');
  });

  it('refuses a lock with no kernel or with two', () => {
    expect(() => kernelPackages([pkg('linux-image-arm64'), pkg('kmod')])).toThrow(/exactly one kernel, found 0: none/);
    expect(() => kernelPackages([pkg('linux-image-6.12.117+deb13-arm64'), pkg('linux-image-7.3.4+deb13-arm64')])).toThrow(
      /found 2: 6\.12\.117\+deb13-arm64, 7\.3\.4\+deb13-arm64/,
    );
  });
});
