import { describe, expect, it } from 'vitest';
import { renderSbom } from '../../../src/builder/sbom.js';
import { loadSpec } from '../../../src/spec/load.js';
import { readLock } from '../../../src/lock/lockfile.js';

describe('SBOM', () => {
  it('is SPDX 2.3 with every locked package and artifact, dated from SOURCE_DATE_EPOCH, deterministic', async () => {
    const { spec } = await loadSpec('images/pi-k3s-test.yaml');
    const lock = await readLock('images/pi-k3s-test.lock.json');
    const arts = [{ name: 'k3s-test-fixture', version: 'fixture-1', url: '../x.sh', sha256: 'b'.repeat(64) }];
    const text = renderSbom(spec, lock, 'a'.repeat(64), arts);
    expect(renderSbom(spec, lock, 'a'.repeat(64), arts)).toBe(text);
    const doc = JSON.parse(text) as {
      spdxVersion: string;
      creationInfo: { created: string };
      packages: { name: string; externalRefs?: { referenceLocator: string }[]; downloadLocation: string }[];
      relationships: unknown[];
    };
    expect(doc.spdxVersion).toBe('SPDX-2.3');
    expect(doc.creationInfo.created).toBe(new Date(spec.sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z'));
    expect(doc.packages).toHaveLength(1 + lock.packages.length + 1);
    const libc = doc.packages.find((p) => p.name === 'libc6');
    expect(libc?.externalRefs?.[0]?.referenceLocator).toMatch(/^pkg:deb\/debian\/libc6@.+\?arch=arm64&distro=debian-trixie$/);
    expect(doc.packages.find((p) => p.name === 'k3s-test-fixture')?.downloadLocation).toBe('NOASSERTION');
    expect(doc.relationships).toHaveLength(lock.packages.length + 1);
  });
});
