import { join } from 'node:path';
import { overlayFor } from '../stages/overlay-files.js';
import { writeOverlayTar } from '../stages/overlay.js';
import { extractTar } from '../stages/tree.js';
import { need, type Step } from '../context.js';
import { must } from '../../util/errors.js';

/** kiln's own files (artifacts, units, fstab, cloud-init config, the spec's files) on top of the tree. */
export const overlayStep: Step = {
  name: 'overlay',
  async run(ctx) {
    const { loaded, ids } = need(ctx, 'inputs');
    const { work, tree } = need(ctx, 'workspace');
    const spec = loaded.spec;
    const ov = overlayFor(spec, ids.diskId);
    const blobs = need(ctx, 'fetch').artifacts.map((a) => {
      const declared = must(spec.artifacts[a.name], `spec artifact ${a.name}`);
      return { path: a.install, mode: Number.parseInt(declared.mode, 8), source: ctx.store.blobPath(a.sha256) };
    });
    const tar = join(work, 'overlay.tar');
    const n = await writeOverlayTar({ ...ov, blobs, mtime: spec.sourceDateEpoch }, tar);
    await extractTar(need(ctx, 'imageTools'), tar, tree, { keepDirs: true });
    return { detail: `${n} entries` };
  },
};
