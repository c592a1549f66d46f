import type { Command } from 'commander';
import { loadSpec } from '../spec/load.js';
import { resolveLock } from '../lock/resolve.js';
import { lockPathFor, writeLock } from '../lock/lockfile.js';
import { defaultCacheDir } from '../util/paths.js';

export function registerLock(program: Command): void {
  program
    .command('lock')
    .argument('<spec>', 'image spec, e.g. images/pi-k3s.yaml')
    .description(
      'Resolve the full arm64 package closure of a spec (Essential + apt + its packages) from the ' +
        "mirror's indexes, verified with the Debian archive keyring, and write <spec>.lock.json: " +
        'every .deb by name, version, arch, sha256, size and pool path. `kiln build` uses only the lock.',
    )
    .option('--cache <dir>', 'cache directory (apt indexes live here)', defaultCacheDir())
    .option('-o, --output <file>', 'where to write the lock (default: beside the spec)')
    .action(async (specFile: string, opts: { cache: string; output?: string }) => {
      const loaded = await loadSpec(specFile);
      const lock = await resolveLock({ specName: loaded.spec.name, spec: loaded.spec, packagesHash: loaded.packagesHash, cacheRoot: opts.cache }, (msg) =>
        process.stderr.write(`lock: ${msg}\n`),
      );
      const out = opts.output ?? lockPathFor(loaded.path);
      await writeLock(out, lock);
      const bytes = lock.packages.reduce((n, p) => n + p.size, 0);
      process.stdout.write(`${out}: ${lock.packages.length} packages, ${(bytes / 1048576).toFixed(1)} MiB of .debs (archive as of ${lock.releaseDate})\n`);
    });
}
