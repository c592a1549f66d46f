import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../manifest/schema.js';
import { readManifest } from '../manifest/read.js';
import { MANIFEST_FILE } from '../manifest/write.js';
import { log } from '../util/log.js';

// The images dir (default dist/) as the service sees it: one entry per build with a valid manifest.

export interface ImageInfo {
  name: string;
  dir: string;
  /** The exact files of the image's FAT boot partition. */
  bootDir: string;
  /** Present once the installer issue lands; netboot falls back to the image's own kernel without it. */
  installerDir: string | null;
  diskId: string;
  sha256: string;
  size: number;
  files: { img: string; zst: string; bmap: string };
  zstSha256: string;
  /** The image's own cmdline.txt and config.txt; per-node copies are rendered from these. */
  cmdline: string;
  configTxt: string;
  /** The `append` of the image's extlinux/extlinux.conf: the arguments U-Boot boards boot with. */
  ubootCmdline?: string;
  manifest: Manifest;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

export async function loadImage(imagesDir: string, name: string): Promise<ImageInfo> {
  const dir = join(imagesDir, name);
  const m = await readManifest(join(dir, MANIFEST_FILE));
  const bootDir = join(dir, 'boot');
  const readText = (f: string): Promise<string> => readFile(join(bootDir, f), 'utf8').catch(() => '');
  const installer = join(dir, 'installer');
  return {
    name: m.name,
    dir,
    bootDir,
    installerDir: (await exists(join(installer, 'vmlinuz'))) ? installer : null,
    diskId: m.diskId,
    sha256: m.image.sha256,
    size: m.image.size,
    files: { img: m.image.file, zst: m.image.zst.file, bmap: m.image.bmap.file },
    zstSha256: m.image.zst.sha256,
    cmdline: (await readText('cmdline.txt')).trim(),
    configTxt: await readText('config.txt'),
    ubootCmdline: /^\s*append\s+(.+)$/m.exec(await readText('extlinux/extlinux.conf'))?.[1]?.trim(),
    manifest: m,
  };
}

/** Every build under the images dir; a damaged one is logged and skipped so the rest still serve. */
export async function loadImages(imagesDir: string): Promise<Map<string, ImageInfo>> {
  const out = new Map<string, ImageInfo>();
  const entries = await readdir(imagesDir, { withFileTypes: true }).catch(() => []);
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    if (!(await exists(join(imagesDir, e.name, MANIFEST_FILE)))) continue;
    try {
      out.set(e.name, await loadImage(imagesDir, e.name));
    } catch (err) {
      log.warn({ image: e.name, err: (err as Error).message }, 'skipping image with an unreadable manifest');
    }
  }
  return out;
}
