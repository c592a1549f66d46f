import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Manifest } from './schema.js';
import { readManifest } from './read.js';
import { MANIFEST_FILE } from './write.js';
import { KilnError } from '../util/errors.js';

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
  if (!st) throw new KilnError(`${arg}: no such file or directory`);
  if (st.isDirectory()) {
    const manifestPath = join(path, MANIFEST_FILE);
    const manifest = await readManifest(manifestPath, arg);
    const imagePath = join(path, basename(manifest.image.file));
    const img = await stat(imagePath).catch(() => undefined);
    if (!img?.isFile()) throw new KilnError(`${arg}: manifest names image ${manifest.image.file} but ${imagePath} is missing`);
    return { label: arg, imagePath, dir: path, manifest, manifestPath };
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new KilnError(`${arg}: neither a build directory nor an image file`);
  return { label: arg, imagePath: path };
}
