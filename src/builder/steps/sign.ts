import { signBuildDir } from '../../provenance/sign.js';
import { need, type Step } from '../context.js';

/**
 * `--sign KEY`: SHA256SUMS.sig and provenance.intoto.jsonl in the temp output dir, after the
 * manifest step wrote SHA256SUMS and before commit renames the dir into place, so a build dir is
 * never seen half-signed and a failed signature fails the build with nothing committed.
 */
export const signStep: Step = {
  name: 'sign',
  when: (ctx) => ctx.opts.sign !== undefined,
  async run(ctx) {
    const key = ctx.opts.sign;
    if (!key) return {};
    const { out } = need(ctx, 'workspace');
    need(ctx, 'manifest');
    const r = await signBuildDir(out, key);
    return { detail: `${r.subjects} subjects signed with ${key.publicKey.type} ${r.keyid}` };
  },
};
