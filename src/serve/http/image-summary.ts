import type { ImageInfo } from '../images.js';
import type { ImageSummary, VerifyStatus } from './api-types.js';

// One build as GET /api/images lists it. Pure.

export function imageSummary(i: ImageInfo, verify: VerifyStatus, isDefault: boolean): ImageSummary {
  return {
    name: i.name,
    sha256: i.sha256,
    size: i.size,
    diskId: i.diskId,
    installer: i.installerDir !== null,
    builtAt: new Date(i.manifest.sourceDateEpoch * 1000).toISOString(),
    packageCount: i.manifest.packages.length,
    // manifests from before the board matrix name none
    boards: i.manifest.boards ?? [],
    files: Object.fromEntries(Object.entries(i.files).map(([k, f]) => [k, `/images/${i.name}/${f}`])),
    verify,
    isDefault,
  };
}
