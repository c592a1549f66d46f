import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { manifestSchema, type Manifest } from './schema.js';

// What the user named on the command line: a build directory (dist/<name>/ with manifest.json) or
// a bare disk image. Everything else in diff/verify starts from this resolved form.

export interface Source {
  /** As the user typed it, for messages and report headings. */
  label: string;
  imagePath: string;
  dir?: string;
  manifest?: Manifest;
  manifestPath?: string;
}

export async function resolveSource(arg: string): Promise<Source> {
  const path = resolve(arg);
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new Error(`${arg}: no such file or directory`);
  if (st.isDirectory()) {
    const manifestPath = join(path, 'manifest.json');
    const manifest = await readManifest(manifestPath, arg);
    const imagePath = join(path, basename(manifest.image.file));
    const img = await stat(imagePath).catch(() => undefined);
    if (!img?.isFile()) throw new Error(`${arg}: manifest names image ${manifest.image.file} but ${imagePath} is missing`);
    return { label: arg, imagePath, dir: path, manifest, manifestPath };
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new Error(`${arg}: neither a build directory nor an image file`);
  return { label: arg, imagePath: path };
}

export async function readManifest(manifestPath: string, label = manifestPath): Promise<Manifest> {
  const text = await readFile(manifestPath, 'utf8').catch(() => undefined);
  if (text === undefined) throw new Error(`${label}: not a build directory (no manifest.json) and not an image file`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${manifestPath}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join('.') || '(top level)' : '?';
    throw new Error(`${manifestPath}: not a kiln manifest: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
