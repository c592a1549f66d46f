import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hashOf } from '../../util/hash.js';
import { buildCodeHash } from '../code-hash.js';
import { installerScriptsHash } from '../../installer/initramfs.js';
import type { Manifest } from '../../manifest/schema.js';
import { readManifest } from '../../manifest/read.js';
import { MANIFEST_FILE } from '../../manifest/write.js';
import { need, type BuildContext, type Step } from '../context.js';
import { signBuildDir } from '../../provenance/sign.js';

/** Bump when the stages after the rootfs change the bytes they write. */
const RECIPE = 2;

/**
 * The final key covers everything the image bytes depend on; when the output dir's manifest has it
 * and the image is there, the build ends here (the no-op rebuild).
 */
export const upToDateStep: Step = {
  name: 'up-to-date',
  quiet: true,
  async run(ctx) {
    const finalKey = await finalKeyOf(ctx);
    ctx.results.finalKey = finalKey;
    const { finalDir } = need(ctx, 'inputs');
    const existing = ctx.opts.noStageCache ? undefined : await upToDate(finalDir, finalKey);
    if (existing) {
      // --sign on an up-to-date build signs what is there, after hashing it against SHA256SUMS
      if (ctx.opts.sign) await signBuildDir(finalDir, ctx.opts.sign, { checkFiles: true });
      ctx.report({
        event: 'done',
        outDir: finalDir,
        sha256: existing.image.sha256,
        seconds: (Date.now() - ctx.startedAt) / 1000,
        cachedStages: [...ctx.cachedStages, 'image'],
      });
      ctx.finished = { outDir: finalDir, manifest: existing, upToDate: true };
    }
    return {};
  },
};

async function finalKeyOf(ctx: BuildContext): Promise<string> {
  const { loaded, lockSha } = need(ctx, 'inputs');
  const { artifacts } = need(ctx, 'fetch');
  const rootfs = need(ctx, 'rootfs');
  const [code, installerScripts] = await Promise.all([buildCodeHash(), loaded.spec.installer ? installerScriptsHash() : null]);
  return hashOf({
    recipe: RECIPE,
    kiln: ctx.opts.kilnVersion,
    code,
    rootfs: rootfs.key,
    spec: loaded.sha256,
    lock: lockSha,
    artifacts,
    tools: rootfs.tools,
    installerScripts,
  });
}

async function upToDate(dir: string, key: string): Promise<Manifest | undefined> {
  try {
    const m = await readManifest(join(dir, MANIFEST_FILE));
    if (m.stages.final !== key) return undefined;
    if ((await stat(join(dir, m.image.file))).size !== m.image.size) return undefined;
    await stat(join(dir, m.image.zst.file));
    return m;
  } catch {
    return undefined;
  }
}
