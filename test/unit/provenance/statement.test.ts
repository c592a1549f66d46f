import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../src/manifest/schema.js';
import {
  KILN_BUILD_TYPE,
  provenanceStatement,
  SLSA_PROVENANCE_V1,
  STATEMENT_TYPE,
  statementBytes,
  statementDifferences,
} from '../../../src/provenance/statement.js';
import { imageManifest } from '../../helpers/images/image-dir.js';

const h = (c: string) => c.repeat(64);

function manifest(): Manifest {
  return imageManifest(
    { name: 'pi', img: { size: 1024, sha256: h('1') }, zst: { size: 10, sha256: h('2') }, bmap: { text: 'bmap', mappedBytes: 512 }, diskId: 'abcdef01' },
    {
      kilnVersion: '0.9.0',
      spec: { file: 'images/pi.yaml', sha256: h('c'), packagesHash: h('d') },
      lock: { file: 'images/pi.lock.json', sha256: h('e') },
      packages: [
        { name: 'bash', version: '5.2.37-1', arch: 'arm64', sha256: h('a') },
        { name: 'systemd', version: '1:257+deb13', arch: 'arm64', sha256: h('b') },
      ],
      artifacts: [
        {
          name: 'k3s',
          description: 'k3s',
          version: 'v1.36.0+k3s1',
          url: 'https://example.org/k3s-arm64',
          sha256: h('f'),
          size: 7,
          install: '/usr/local/bin/k3s',
        },
      ],
      rootfs: { mode: 'native', nativeTools: [{ name: 'dpkg', version: '1.22', arch: 'amd64', sha256: h('9') }] },
      imageTools: {
        architecture: 'amd64',
        madeBy: { zst: [{ program: 'zstd', package: { name: 'zstd', version: '1.5.7', arch: 'amd64', sha256: h('7') }, libraries: [] }] },
        diskTable: 'kiln 0.9.0 (src/disk/mbr.ts; no partitioning tool)',
        packages: [{ name: 'zstd', version: '1.5.7', arch: 'amd64', sha256: h('7') }],
      },
      hostTools: { mmdebstrap: 'mmdebstrap 1.5.7', mke2fs: 'mke2fs 1.47.2' },
      stages: { rootfs: h('3'), final: h('4') },
    },
  );
}

const sums = [
  { sha256: h('1'), file: 'pi.img' },
  { sha256: h('2'), file: 'pi.img.zst' },
  { sha256: h('5'), file: 'manifest.json' },
];

describe('provenance statement', () => {
  it('has every SHA256SUMS line as a subject, then SHA256SUMS itself', () => {
    const s = provenanceStatement({ manifest: manifest(), sums, sumsSha256: h('6') });
    expect(s._type).toBe(STATEMENT_TYPE);
    expect(s.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(s.subject).toEqual([
      { name: 'pi.img', digest: { sha256: h('1') } },
      { name: 'pi.img.zst', digest: { sha256: h('2') } },
      { name: 'manifest.json', digest: { sha256: h('5') } },
      { name: 'SHA256SUMS', digest: { sha256: h('6') } },
    ]);
  });

  it('states the spec, lock, every .deb and artifact, the tools and the epoch from the manifest', () => {
    const p = provenanceStatement({ manifest: manifest(), sums, sumsSha256: h('6') }).predicate;
    expect(p.buildDefinition.buildType).toBe(KILN_BUILD_TYPE);
    expect(p.buildDefinition.externalParameters).toEqual({
      spec: { path: 'images/pi.yaml', digest: { sha256: h('c') } },
      lock: { path: 'images/pi.lock.json', digest: { sha256: h('e') } },
      packagesHash: h('d'),
    });
    expect(p.buildDefinition.internalParameters).toEqual({ SOURCE_DATE_EPOCH: 1700000000, rootfsMode: 'native', stageKeys: { rootfs: h('3'), final: h('4') } });
    const deps = p.buildDefinition.resolvedDependencies;
    expect(deps.map((d) => [d.name, d.uri, d.digest.sha256, d.annotations?.role])).toEqual([
      ['bash', 'pkg:deb/debian/bash@5.2.37-1?arch=arm64', h('a'), 'package'],
      ['systemd', 'pkg:deb/debian/systemd@1%3A257%2Bdeb13?arch=arm64', h('b'), 'package'],
      ['k3s', 'https://example.org/k3s-arm64', h('f'), 'artifact'],
      ['dpkg', 'pkg:deb/debian/dpkg@1.22?arch=amd64', h('9'), 'native-tool'],
      ['zstd', 'pkg:deb/debian/zstd@1.5.7?arch=amd64', h('7'), 'image-tool'],
    ]);
    expect(p.runDetails.builder.version).toEqual({ kiln: '0.9.0', mmdebstrap: 'mmdebstrap 1.5.7', mke2fs: 'mke2fs 1.47.2' });
  });

  it('is the same bytes for the same build, whatever the key order, and holds no host or clock facts', () => {
    const a = statementBytes(provenanceStatement({ manifest: manifest(), sums, sumsSha256: h('6') }));
    const m = manifest();
    const reordered = Object.fromEntries(Object.entries(m).reverse()) as Manifest;
    reordered.hostTools = { mke2fs: 'mke2fs 1.47.2', mmdebstrap: 'mmdebstrap 1.5.7' };
    const b = statementBytes(provenanceStatement({ manifest: reordered, sums, sumsSha256: h('6') }));
    expect(b.equals(a)).toBe(true);
    const text = a.toString();
    expect(text.startsWith('{"_type":"https://in-toto.io/Statement/v1","predicate":{')).toBe(true);
    expect(text).not.toMatch(/\n|": |, "/); // no indentation, no spaces between tokens
    for (const word of ['startedOn', 'finishedOn', 'invocationId', 'hostname']) expect(text).not.toContain(word);
  });

  it('names each place a statement differs, subjects by name', () => {
    const want = provenanceStatement({ manifest: manifest(), sums, sumsSha256: h('6') });
    const got = JSON.parse(statementBytes(want).toString()) as typeof want;
    expect(statementDifferences(want, got)).toEqual([]);
    const sub = got.subject[0];
    if (sub) sub.digest.sha256 = h('0');
    got.predicate.buildDefinition.externalParameters.lock.digest.sha256 = h('0');
    got.subject.pop();
    expect(statementDifferences(want, got).map((d) => d.path)).toEqual([
      'predicate.buildDefinition.externalParameters.lock.digest.sha256',
      'subject[pi.img].digest.sha256',
      'subject[3]',
    ]);
  });
});
