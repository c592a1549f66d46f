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
