import { chmod, rename, rm } from 'node:fs/promises';
import { need, type Step } from '../context.js';

/** Renames the finished output dir over the old one and reports the build done. */
export const commitStep: Step = {
  name: 'commit',
  quiet: true,
  async run(ctx) {
    const { finalDir } = need(ctx, 'inputs');
    const { out } = need(ctx, 'workspace');
    const manifest = need(ctx, 'manifest');
    // mkdtemp made it 0700; the output is public (served over TFTP/HTTP, copied by operators)
    await chmod(out, 0o755);
    await rm(finalDir, { recursive: true, force: true });
    await rename(out, finalDir);
    ctx.report({
      event: 'done',
      outDir: finalDir,
      sha256: manifest.image.sha256,
      seconds: (Date.now() - ctx.startedAt) / 1000,
      cachedStages: ctx.cachedStages,
    });
    ctx.finished = { outDir: finalDir, manifest, upToDate: false };
    return {};
  },
};
