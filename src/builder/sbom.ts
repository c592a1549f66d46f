import type { Lock } from '../lock/lockfile.js';
import type { ImageSpec } from '../spec/schema.js';
import { sha256 } from '../util/hash.js';

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo: string;
  downloadLocation: string;
  filesAnalyzed: false;
  supplier: string;
  checksums: { algorithm: 'SHA256'; checksumValue: string }[];
  externalRefs: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
  licenseConcluded: 'NOASSERTION';
  licenseDeclared: 'NOASSERTION';
  copyrightText: 'NOASSERTION';
}

const spdxId = (s: string): string => `SPDXRef-${s.replace(/[^A-Za-z0-9.-]/g, '-')}`;

/**
 * SPDX 2.3 JSON of what is in the image: every locked .deb (with a purl) and every pinned artifact.
 * Deterministic: the creation time is SOURCE_DATE_EPOCH and the namespace derives from the image hash.
 */
export function renderSbom(spec: ImageSpec, lock: Lock, imageSha: string, artifacts: { name: string; version: string; url: string; sha256: string }[]): string {
  const debs: SpdxPackage[] = lock.packages.map((p) => ({
    SPDXID: spdxId(`deb-${p.name}-${p.arch}`),
    name: p.name,
    versionInfo: p.version,
    downloadLocation: `${lock.mirror}/${p.filename}`,
    filesAnalyzed: false,
    supplier: 'Organization: Debian',
    checksums: [{ algorithm: 'SHA256', checksumValue: p.sha256 }],
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:deb/debian/${p.name}@${encodeURIComponent(p.version)}?arch=${p.arch}&distro=debian-${lock.suite}`,
      },
    ],
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
  }));
  const arts = artifacts.map((a) => ({
    SPDXID: spdxId(`artifact-${a.name}`),
    name: a.name,
    versionInfo: a.version,
    downloadLocation: /^https?:/.test(a.url) ? a.url : 'NOASSERTION',
    filesAnalyzed: false,
    checksums: [{ algorithm: 'SHA256', checksumValue: a.sha256 }],
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
  }));
  const doc = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${spec.name}.img`,
    documentNamespace: `https://kiln.invalid/spdx/${spec.name}/${sha256(imageSha).slice(0, 32)}`,
    creationInfo: { created: new Date(spec.sourceDateEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), creators: ['Tool: kiln'] },
    documentDescribes: ['SPDXRef-image'],
    packages: [
      {
        SPDXID: 'SPDXRef-image',
        name: spec.name,
        versionInfo: imageSha.slice(0, 12),
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: false,
        checksums: [{ algorithm: 'SHA256', checksumValue: imageSha }],
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
      },
      ...debs,
      ...arts,
    ],
    relationships: [...debs, ...arts].map((p) => ({ spdxElementId: 'SPDXRef-image', relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
  };
  return `${JSON.stringify(doc, null, 1)}\n`;
}
