import type { Command } from 'commander';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobStore } from '../store/blob-store.js';
import { loadSpec } from '../spec/load.js';
import { sha256File } from '../util/hash.js';
import { defaultCacheDir } from '../util/paths.js';
import { KilnError } from '../util/errors.js';

async function specFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

export function registerCache(program: Command): void {
  const cache = program.command('cache').description('Inspect and fill the content-addressed cache (.debs, artifacts, stage outputs)');
  cache
    .command('add')
    .argument('<file>', 'a downloaded artifact, e.g. k3s-arm64')
    .description(
      'Add an artifact fetched elsewhere (for a machine that cannot reach its URL). It is accepted only ' +
        'if its sha256 matches an artifact pinned by a spec (all specs in --images by default).',
    )
    .option('--spec <file>', 'only match the pins of this spec')
    .option('--images <dir>', 'directory of specs to match against', 'images')
    .option('--cache <dir>', 'cache directory', defaultCacheDir())
    .action(async (file: string, o: { spec?: string; images: string; cache: string }) => {
      const sha = await sha256File(file);
      const specs = o.spec ? [o.spec] : await specFiles(o.images);
      const pins: string[] = [];
      for (const s of specs) {
        const loaded = await loadSpec(s);
        for (const [name, a] of Object.entries(loaded.spec.artifacts)) {
          pins.push(`${name} ${a.version} ${a.sha256} (${s})`);
          if (a.sha256 === sha) {
            await new BlobStore(o.cache).addFile(file, sha);
            process.stdout.write(`added ${file} as ${name} ${a.version} (sha256 ${sha}, pinned by ${s})\n`);
            return;
          }
        }
      }
      throw new KilnError(`${file} (sha256 ${sha}) matches no pinned artifact; pins:\n  ${pins.join('\n  ') || '(none)'}`);
    });
  cache
    .command('info')
    .description('Show where the cache is and how much it holds')
    .option('--cache <dir>', 'cache directory', defaultCacheDir())
    .action(async (o: { cache: string }) => {
      const blobs = join(o.cache, 'blobs', 'sha256');
      const names = await readdir(blobs).catch(() => [] as string[]);
      let bytes = 0;
      for (const n of names) bytes += (await stat(join(blobs, n))).size;
      const rootfs = await readdir(join(o.cache, 'stages', 'rootfs')).catch(() => [] as string[]);
      process.stdout.write(
        `${o.cache}\n  blobs: ${names.length} (${(bytes / 1048576).toFixed(1)} MiB)\n  cached rootfs stages: ${rootfs.filter((n) => !n.startsWith('.')).length}\n`,
      );
    });
}
