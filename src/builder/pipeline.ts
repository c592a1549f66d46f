import { join } from 'node:path';
import { BlobStore } from '../store/blob-store.js';
import { StageCache } from '../store/stage-cache.js';
import { stage } from './progress.js';
import { BUILD_STEPS } from './steps/index.js';
import type { BuildContext, BuildOptions, BuildResult, Step } from './context.js';

export type { BuildOptions, BuildResult } from './context.js';
export { LockMismatchError } from './lock-mismatch.js';

/**
 * Runs the build steps in order over one context (mkosi's shape: a straight list of named steps).
 * A step may end the build early (up to date); cleanups run however the build ends.
 */
export async function build(opts: BuildOptions, steps: readonly Step[] = BUILD_STEPS): Promise<BuildResult> {
  // Files that mmdebstrap, its hooks and maintainer scripts create without an explicit mode take it
  // from the umask (seen: /etc/machine-id 0600 and /etc/ssh 0700 under umask 077), so every build
  // uses the same one, whatever the caller's.
  process.umask(0o022);
  const ctx: BuildContext = {
    opts,
    report: opts.report,
    store: new BlobStore(opts.cacheRoot),
    stages: new StageCache(join(opts.cacheRoot, 'stages')),
    startedAt: Date.now(),
    results: {},
    cachedStages: [],
    cleanups: [],
  };
  try {
    for (const step of steps) {
      if (ctx.finished) break;
      if (step.when && !step.when(ctx)) continue;
      if (step.quiet) await step.run(ctx);
      else await stage(ctx.report, step.name, () => step.run(ctx));
    }
  } finally {
    // best effort: a leftover temp dir must not hide the build's own error
    for (const cleanup of ctx.cleanups.reverse()) await cleanup().catch(() => undefined);
  }
  if (!ctx.finished) throw new Error(`internal: the build steps ended without a result (${steps.map((s) => s.name).join(', ')})`);
  return ctx.finished;
}
