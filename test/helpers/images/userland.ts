import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashOf } from '../../../src/util/hash.js';
import { run } from '../../../src/util/exec.js';
import { defaultCacheDir } from '../../../src/util/paths.js';

// Another host userland to build in: a Debian trixie root (amd64, minbase) made by mmdebstrap, with
// its own e2fsprogs, dosfstools, mtools and zstd (and perl, for the host's mmdebstrap script whose
// version is a rootfs cache input; libstdc++6 for the host's node binary). Made once and kept in
// ~/.cache/kiln/test-userland/<key>/root (~1 min with the network; ~300 MB).

export const USERLAND = {
  suite: 'trixie',
  mirror: 'http://deb.debian.org/debian',
  include: ['e2fsprogs', 'dosfstools', 'mtools', 'zstd', 'perl', 'libstdc++6'],
};

export async function trixieUserland(): Promise<string> {
  const base = join(defaultCacheDir(), 'test-userland', hashOf(USERLAND).slice(0, 16));
  const root = join(base, 'root');
  if (existsSync(join(base, 'complete'))) return root;
  await mkdir(base, { recursive: true });
  const tmp = join(base, `.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await run('mmdebstrap', ['--variant=minbase', '--mode=root', '--quiet', `--include=${USERLAND.include.join(',')}`, USERLAND.suite, tmp, USERLAND.mirror], {
    timeoutMs: 15 * 60_000,
  });
  await rm(root, { recursive: true, force: true });
  await rename(tmp, root);
  await writeFile(join(base, 'complete'), '');
  return root;
}
