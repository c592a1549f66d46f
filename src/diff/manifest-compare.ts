import type { Manifest } from '../manifest/schema.js';
import { compareKeyed, makeLayer } from './compare.js';
import { compareFields, type Scalar } from '../disk/tree.js';
import type { Layer } from './model.js';

// Manifests say *why* bytes differ: a different lock, package, artifact or host tool. These
// layers come after the byte layers in a report, but they are what an operator reads to act.

export function compareManifests(a: Manifest, b: Manifest): Layer[] {
  const inputs = compareFields(inputFields(a), inputFields(b));
  const stages = compareKeyed(
    'stage',
    entries(a.stages),
    entries(b.stages),
    (t) => t[0],
    (t) => ({ cacheKey: t[1] }),
  );
  const packages = compareKeyed(
    'package',
    a.packages,
    b.packages,
    (p) => `${p.name}:${p.arch}`,
    (p) => ({ version: p.version, sha256: p.sha256 }),
  );
  const artifacts = compareKeyed(
    'artifact',
    a.artifacts,
    b.artifacts,
    (x) => x.name,
    (x) => ({ version: x.version, sha256: x.sha256, size: x.size, url: x.url, install: x.install, description: x.description }),
  );
  const tools = compareKeyed(
    'host tool',
    entries(a.hostTools),
    entries(b.hostTools),
    (t) => t[0],
    (t) => ({ version: t[1] }),
  );
  const imageTools = compareKeyed(
    'image tool',
    imageToolRows(a),
    imageToolRows(b),
    (t) => t.key,
    (t) => ({ package: t.package, version: t.version, sha256: t.sha256, libraries: t.libraries }),
  );
  const outputs = compareFields(outputFields(a), outputFields(b));
  const fileListings = compareKeyed(
    'listing',
    [
      ['boot', a.files.boot.length],
      ['root', a.files.root.length],
    ] as const,
    [
      ['boot', b.files.boot.length],
      ['root', b.files.root.length],
    ] as const,
    (t) => t[0],
    (t) => ({ entries: t[1] }),
  );
  return [
    makeLayer('manifest:inputs', 'Manifest: build inputs (spec, lock, epoch, stage keys)', inputs, stages),
    makeLayer('manifest:packages', 'Manifest: packages', [], packages),
    makeLayer('manifest:artifacts', 'Manifest: artifacts', [], artifacts),
    makeLayer('manifest:host-tools', 'Manifest: host tool versions', [], tools),
    makeLayer('manifest:image-tools', 'Manifest: image tools (which .deb made which bytes)', [], imageTools),
    makeLayer('manifest:outputs', 'Manifest: recorded outputs', outputs, fileListings),
  ];
}

/** One row per product and program (`root:mke2fs`); a manifest from before the image tools has none. */
function imageToolRows(m: Manifest): { key: string; package: string; version: string; sha256: string; libraries: string }[] {
  const rows = Object.entries(m.imageTools?.madeBy ?? {}).flatMap(([product, programs]) =>
    programs.map((p) => ({
      key: `${product}:${p.program}`,
      package: `${p.package.name}:${p.package.arch}`,
      version: p.package.version,
      sha256: p.package.sha256,
      libraries: p.libraries.map((l) => `${l.name} ${l.version}`).join(', '),
    })),
  );
  if (m.imageTools) rows.push({ key: 'disk table', package: m.imageTools.diskTable, version: '', sha256: '', libraries: '' });
  return rows;
}

function entries(r: Record<string, string>): [string, string][] {
  return Object.entries(r);
}

function inputFields(m: Manifest): Record<string, Scalar> {
  return {
    name: m.name,
    kilnVersion: m.kilnVersion,
    sourceDateEpoch: m.sourceDateEpoch,
    'spec.file': m.spec.file,
    'spec.sha256': m.spec.sha256,
    'spec.packagesHash': m.spec.packagesHash,
    'lock.file': m.lock.file,
    'lock.sha256': m.lock.sha256,
  };
}

function outputFields(m: Manifest): Record<string, Scalar> {
  const out: Record<string, Scalar> = {
    'image.size': m.image.size,
    'image.sha256': m.image.sha256,
    'image.zst.sha256': m.image.zst.sha256,
    'image.bmap.sha256': m.image.bmap.sha256,
    diskId: m.diskId,
  };
  for (const p of m.partitions) {
    const k = `partition${p.index}`;
    out[`${k}.sha256`] = p.sha256;
    out[`${k}.fsId`] = p.fsId;
    out[`${k}.hashSeed`] = p.hashSeed ?? null;
    out[`${k}.label`] = p.label;
  }
  for (const [role, e] of Object.entries(m.extras)) out[`extras.${role}.sha256`] = e.sha256;
  return out;
}
