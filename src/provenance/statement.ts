import type { Manifest } from '../manifest/schema.js';
import { canonicalJson } from '../util/hash.js';
import type { SumEntry } from '../util/sha256sums.js';

// The in-toto Statement v1 with a SLSA Provenance v1 predicate that `kiln build --sign` signs, made
// only from what the build directory itself holds (manifest.json and SHA256SUMS), so `kiln verify`
// recomputes it and any two builds of the same spec and lock with the same tools state the same
// bytes: no hostname, no kernel, no clock time. docs/provenance.md says what each field claims.

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** Names the build this statement describes; its specification is docs/provenance.md (kiln.invalid, like the SBOM's namespace, resolves nowhere). */
export const KILN_BUILD_TYPE = 'https://kiln.invalid/provenance/image-build/v1';
/** kiln's CLI run by an operator on their own host: trust rests on the signing key, not on a hosted build service. */
export const KILN_BUILDER_ID = 'https://kiln.invalid/provenance/builder/kiln-cli/v1';
/** The name SHA256SUMS has among the subjects (its own digest, after the files it lists). */
export const SUMS_SUBJECT = 'SHA256SUMS';

export interface Digest {
  sha256: string;
}

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest: Digest;
  annotations?: Record<string, string | number>;
}

export interface Provenance {
  buildDefinition: {
    buildType: string;
    externalParameters: {
      spec: { path: string; digest: Digest };
      lock: { path: string; digest: Digest };
      packagesHash: string;
    };
    internalParameters: {
      SOURCE_DATE_EPOCH: number;
      rootfsMode?: string;
      stageKeys: Record<string, string>;
    };
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version: Record<string, string> };
  };
}

export interface Statement {
  _type: string;
  subject: { name: string; digest: Digest }[];
  predicateType: string;
  predicate: Provenance;
}

export interface StatementInput {
  manifest: Manifest;
  /** SHA256SUMS' lines, in file order. */
  sums: readonly SumEntry[];
  /** sha256 of SHA256SUMS' bytes. */
  sumsSha256: string;
}

/** Debian's package URL (purl spec, type deb), as the SBOM writes it, without the suite the manifest does not record. */
export function debPurl(p: { name: string; version: string; arch: string }): string {
  return `pkg:deb/debian/${p.name}@${encodeURIComponent(p.version)}?arch=${p.arch}`;
}

export function provenanceStatement({ manifest: m, sums, sumsSha256 }: StatementInput): Statement {
  const deb = (role: string) => (p: Manifest['packages'][number]) => ({
    name: p.name,
    uri: debPurl(p),
    digest: { sha256: p.sha256 },
    annotations: { role, version: p.version, arch: p.arch },
  });
  return {
    _type: STATEMENT_TYPE,
    subject: [...sums.map((s) => ({ name: s.file, digest: { sha256: s.sha256 } })), { name: SUMS_SUBJECT, digest: { sha256: sumsSha256 } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: KILN_BUILD_TYPE,
        externalParameters: {
          spec: { path: m.spec.file, digest: { sha256: m.spec.sha256 } },
          lock: { path: m.lock.file, digest: { sha256: m.lock.sha256 } },
          packagesHash: m.spec.packagesHash,
        },
        internalParameters: {
          SOURCE_DATE_EPOCH: m.sourceDateEpoch,
          ...(m.rootfs ? { rootfsMode: m.rootfs.mode } : {}),
          stageKeys: m.stages,
        },
        resolvedDependencies: [
          ...m.packages.map(deb('package')),
          ...m.artifacts.map((a) => ({
            name: a.name,
            uri: a.url,
            digest: { sha256: a.sha256 },
            annotations: { role: 'artifact', version: a.version, size: a.size, install: a.install },
          })),
          ...(m.rootfs?.nativeTools ?? []).map(deb('native-tool')),
          ...(m.imageTools?.packages ?? []).map(deb('image-tool')),
        ],
      },
      runDetails: {
        // the host tools first, so a tool named "kiln" could never hide kiln's own version
        builder: { id: KILN_BUILDER_ID, version: { ...m.hostTools, kiln: m.kilnVersion } },
      },
    },
  };
}

/** The bytes that are signed: canonical JSON (keys sorted at every level, no spaces, no newline). */
export function statementBytes(s: Statement): Buffer {
  return Buffer.from(canonicalJson(s), 'utf8');
}

export interface Difference {
  /** e.g. `subject[pi.img].digest.sha256`; array elements with a `name` are named by it. */
  path: string;
  statement: unknown;
  expected: unknown;
}

/** Where `actual` (a statement as found) differs from `expected` (as kiln derives it), leaf by leaf. */
export function statementDifferences(expected: unknown, actual: unknown, path = ''): Difference[] {
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const out: Difference[] = [];
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      const e: unknown = expected[i];
      const a: unknown = actual[i];
      const en = nameOf(e);
      const label = en !== undefined && en === nameOf(a) ? en : String(i);
      out.push(...statementDifferences(e, a, `${path}[${label}]`));
    }
    return out;
  }
  if (isObject(expected) && isObject(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
    return keys.flatMap((k) => statementDifferences(expected[k], actual[k], path ? `${path}.${k}` : k));
  }
  return canonicalJson(expected) === canonicalJson(actual) ? [] : [{ path: path || '(the whole statement)', statement: actual, expected }];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nameOf(v: unknown): string | undefined {
  return isObject(v) && typeof v.name === 'string' ? v.name : undefined;
}
