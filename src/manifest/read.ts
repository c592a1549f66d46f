import { readFile } from 'node:fs/promises';
import { KilnError, formatIssue } from '../util/errors.js';
import { manifestSchema, type Manifest } from './schema.js';

/** Checks a manifest's text; `where` names it in errors (its path). */
export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KilnError(`${where}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KilnError(`${where}: not a kiln manifest: ${issue ? formatIssue(issue) : 'invalid'}`, {
      hint: 'a build directory made by another kiln version? rebuild it with this one',
    });
  }
  return parsed.data;
}

/** Reads a build's manifest.json; `label` is what the user named, for the "not found" message. */
export async function readManifest(path: string, label = path): Promise<Manifest> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) throw new KilnError(`${label}: not a build directory (no manifest.json) and not an image file`);
  return parseManifest(text, path);
}
