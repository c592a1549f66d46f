import { fileURLToPath } from 'node:url';

// Defaults shared by `kiln serve`, `kiln node` and `kiln inventory`, so they open the same registry.

export function defaultStateDir(): string {
  return process.env.KILN_STATE ?? '.kiln-state';
}

export function defaultImagesDir(): string {
  return process.env.KILN_IMAGES ?? 'dist';
}

/** cloud-init/ at the top of the repo, found relative to this module (src/ or dist-js/). */
export function defaultTemplatesDir(): string {
  return fileURLToPath(new URL('../../cloud-init', import.meta.url));
}
