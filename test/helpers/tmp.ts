import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, onTestFinished } from 'vitest';

// Scratch directories for tests. `tempDir('verify')` makes `$TMPDIR/kiln-verify-XXXXXX` and removes
// it when it is no longer needed: at the end of the test that made it (called inside a test), or
// after the test file's last test (called from beforeAll or at the top of a file). KILN_KEEP_TMP=1
// keeps them all and says where they are, for looking at what a failing test left.

const keep = process.env.KILN_KEEP_TMP === '1';
/** Made outside a test: removed by the afterAll below, which importing this module registers for the file. */
const fileDirs: string[] = [];

afterAll(() => {
  for (const dir of fileDirs.splice(0)) remove(dir);
});

function remove(dir: string): void {
  if (keep) process.stderr.write(`kept ${dir} (KILN_KEEP_TMP=1)\n`);
  else rmSync(dir, { recursive: true, force: true });
}

/**
 * A new empty directory `kiln-<name>-XXXXXX` under the system temp dir, removed when its test is
 * done, or after the file's tests when made outside a test or with `until` 'file' (a cache that
 * later tests reuse).
 */
export function tempDir(name: string, until: 'test' | 'file' = 'test'): string {
  const dir = mkdtempSync(join(tmpdir(), `kiln-${name}-`));
  if (until === 'test') {
    try {
      onTestFinished(() => remove(dir));
      return dir;
    } catch {
      // not inside a test: the file's afterAll removes it
    }
  }
  fileDirs.push(dir);
  return dir;
}
