import { basename, join } from 'node:path';
import type { Source } from '../manifest/source.js';
import { MANIFEST_FILE } from '../manifest/write.js';
import type { ImageInfo } from './images.js';

/** A served build as `kiln verify` and `kiln diff` take a build directory, labelled by its name. */
export function imageSource(i: ImageInfo): Source {
  return {
    label: i.name,
    imagePath: join(i.dir, basename(i.manifest.image.file)),
    dir: i.dir,
    manifest: i.manifest,
    manifestPath: join(i.dir, MANIFEST_FILE),
  };
}

/** The SPDX file the build's manifest step writes beside the image (src/builder/steps/manifest.ts). */
export function sbomPath(i: ImageInfo): string {
  return join(i.dir, `${i.manifest.name}.spdx.json`);
}
