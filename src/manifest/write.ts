import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { manifestSchema, type Manifest } from './schema.js';

export const MANIFEST_FILE = 'manifest.json';

/** The manifest's bytes: checked against the schema first, so no build writes one its readers refuse. */
export function manifestText(manifest: Manifest): string {
  manifestSchema.parse(manifest);
  return `${JSON.stringify(manifest, null, 1)}\n`;
}

/** Writes `<dir>/manifest.json`; returns the text written (SHA256SUMS hashes it). */
export async function writeManifest(dir: string, manifest: Manifest): Promise<string> {
  const text = manifestText(manifest);
  await writeFile(join(dir, MANIFEST_FILE), text);
  return text;
}

/**
 * The provenance fields of a manifest for an image kiln did not build (test and benchmark fixtures):
 * no spec, lock, packages or file lists, and zero hashes that no real input has.
 */
export function placeholderProvenance(label: string): Pick<Manifest, 'spec' | 'lock' | 'artifacts' | 'packages' | 'hostTools' | 'stages' | 'files' | 'extras'> {
  const zero = '0'.repeat(64);
  return {
    spec: { file: `images/${label}.yaml`, sha256: zero, packagesHash: zero },
    lock: { file: `images/${label}.lock.json`, sha256: zero },
    artifacts: [],
    packages: [],
    hostTools: {},
    stages: {},
    files: { boot: [], root: [] },
    extras: {},
  };
}
