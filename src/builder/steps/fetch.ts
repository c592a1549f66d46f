import { fetchMissing } from '../../store/fetch.js';
import { ensureArtifacts } from '../artifacts.js';
import { installerDebs } from '../installer-debs.js';
import { need, rootfsModeOf, type Step } from '../context.js';
import { KilnError } from '../../util/errors.js';

/** Every locked .deb and pinned artifact into the blob store (downloads only what is missing). */
export const fetchStep: Step = {
  name: 'fetch',
  async run(ctx) {
    const { loaded, lock } = need(ctx, 'inputs');
    const specFile = ctx.opts.specFile;
    // Artifacts first: a missing k3s should stop the build before minutes of .deb downloads.
    const artifacts = await ensureArtifacts(loaded, ctx.store);
    const tools = rootfsModeOf(ctx) === 'native' ? (lock.nativeTools?.packages ?? []) : [];
    // the image tools share .debs (libc6, zstd) with the native tools: each once
    const debs = [
      ...new Map(
        [...lock.packages, ...installerDebs(loaded, lock, specFile), ...tools, ...(lock.imageTools?.packages ?? [])].map((p) => [p.sha256, p]),
      ).values(),
    ];
    const items = debs.map((p) => ({
      what: `${p.name} ${p.version}`,
      url: `${lock.mirror}/${p.filename}`,
      sha256: p.sha256,
      size: p.size,
    }));
    const r = await fetchMissing(ctx.store, items, { concurrency: 4 }).catch((err: Error) => {
      if (/HTTP 404/.test(err.message)) {
        throw new KilnError(
          `${err.message}\nThe mirror no longer has a locked package (the lock saw the archive as of ${lock.releaseDate}); run: kiln lock ${specFile}`,
        );
      }
      throw err;
    });
    ctx.results.fetch = { artifacts };
    if (r.fetched === 0) ctx.cachedStages.push('fetch');
    return { cached: r.fetched === 0, detail: `${r.fetched} .debs downloaded (${(r.bytes / 1048576).toFixed(1)} MiB), ${artifacts.length} artifacts verified` };
  },
};
