import { homedir } from 'node:os';
import { join } from 'node:path';

/** Default cache: outside the repo, survives clean clones (CI reuses it on the same machine). */
export function defaultCacheDir(): string {
  if (process.env.KILN_CACHE) return process.env.KILN_CACHE;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'kiln');
}
