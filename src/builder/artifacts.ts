import { stat } from 'node:fs/promises';
import type { LoadedSpec } from '../spec/load.js';
import type { BlobStore } from '../store/blob-store.js';
import { fetchMissing } from '../store/fetch.js';
import type { Manifest } from '../manifest/schema.js';
import { KilnError } from '../util/errors.js';

/**
 * Brings every pinned artifact into the cache: local paths (fixtures) are added after checking their
 * pin, URLs are downloaded and checked. A machine that cannot reach a URL gets told how to add it.
 */
export async function ensureArtifacts(loaded: LoadedSpec, store: BlobStore): Promise<Manifest['artifacts']> {
  const out: Manifest['artifacts'] = [];
  for (const [name, a] of Object.entries(loaded.spec.artifacts).sort(([x], [y]) => (x < y ? -1 : 1))) {
    const source = loaded.artifactSources[name] ?? a.url;
    if (!(await store.has(a.sha256))) {
      if (/^https?:\/\//.test(source)) {
        await fetchMissing(store, [{ what: `artifact ${name} ${a.version}`, url: source, sha256: a.sha256 }], { concurrency: 1 });
      } else {
        await store.addFile(source, a.sha256).catch((err: Error) => {
          throw new KilnError(`artifact ${name} ${a.version} from ${source}: ${err.message}`);
        });
      }
    }
    const size = (await stat(await store.open(a.sha256, `artifact ${name}`))).size;
    out.push({ name, description: a.description, version: a.version, url: a.url, sha256: a.sha256, size, install: a.install });
  }
  return out;
}
