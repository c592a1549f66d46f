import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { run } from '../util/exec.js';
import { fileSize, sha256Range } from '../disk/bytes.js';
import { sha256File } from '../util/hash.js';
import { openImage, type OpenedImage } from '../disk/image.js';
import type { Source } from '../manifest/source.js';
import { bmapSelfChecksumOk, parseBmap, rangeBytes, type Bmap } from '../disk/bmap.js';
import { checkFileListings } from './files-check.js';
import { checkImageAgainstManifest, describeBareImage } from './image-checks.js';
import { expectEqual, fail, ok, skip, type Check, type VerifyReport } from './model.js';
import { parseSha256Sums } from './sha256sums.js';
import { KilnError } from '../util/errors.js';
import type { Trust } from '../provenance/sshsig.js';
import { checkSignatures } from './signature-checks.js';

// `kiln verify`: an image against everything that vouches for it (SHA256SUMS, manifest, block
// map), or a written device against the block map's ranges. Each check says what it compared.

export interface VerifyOptions {
  device?: string;
  /** Compare the manifest's per-file listings with the trees in the image (reads every file). */
  files?: boolean;
  /** Check the build's signatures (SHA256SUMS.sig, the provenance) against these keys: `--key`. */
  trust?: Trust;
}

const SHOWN_RANGES = 5;

export async function verifySource(src: Source, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const img = await openImage(src.imagePath, src.label);
  const dir = src.dir ?? dirname(src.imagePath);
  const checks: Check[] = [];
  if (opts.trust) {
    if (!src.manifest || !src.dir) throw new KilnError(`--key checks a build directory's signatures; ${src.label} is a bare image`);
    checks.push(...(await checkSignatures(src.dir, src.manifest, opts.trust)));
  }

  if (opts.device) {
    // with --key the block map is what ties the device to the signature: it must be the one SHA256SUMS lists
    if (opts.trust && src.manifest) {
      const bmapName = basename(src.manifest.image.bmap.file);
      const listed = parseSha256Sums(await readFile(join(dir, 'SHA256SUMS'), 'utf8').catch(() => ''), 'SHA256SUMS').find((l) => l.file === bmapName);
      const subject = `SHA256SUMS ${bmapName}`;
      const present = (await stat(join(dir, bmapName)).catch(() => undefined))?.isFile();
      if (!listed) checks.push(fail(subject, 'the block map is not listed'));
      else checks.push(present ? expectSum(subject, listed.sha256, await sha256File(join(dir, bmapName))) : fail(subject, 'listed but missing'));
    }
    checks.push(...(await checkDevice(img, dir, src, opts.device)));
    return finish(src, checks, opts.device);
  }

  const imageSha = await sha256File(img.path);
  checks.push(...(await checkSums(dir, img, imageSha)));
  if (src.manifest) {
    const m = src.manifest;
    checks.push(...(await checkImageAgainstManifest(img, m, imageSha)));
    checks.push(await checkFileHash(`${m.image.zst.file}`, join(dir, basename(m.image.zst.file)), m.image.zst.sha256, m.image.zst.size));
    checks.push(await checkZstd(join(dir, basename(m.image.zst.file)), img.size));
    checks.push(await checkFileHash(`${m.image.bmap.file}`, join(dir, basename(m.image.bmap.file)), m.image.bmap.sha256));
    if (opts.files !== false) checks.push(...(await checkFileListings(img, m)));
  } else {
    checks.push(skip('manifest', 'bare image: no manifest.json to compare the partitions and files with'));
    checks.push(...(await describeBareImage(img)));
  }
  const bmapPath = await findBmap(src, dir);
  if (bmapPath) checks.push(...(await checkBmapAgainst(bmapPath, img.path, img.size, 'image')));
  else checks.push(skip('bmap', 'no block map found beside the image'));
  return finish(src, checks);
}

function finish(src: Source, checks: Check[], device?: string): VerifyReport {
  return { target: src.label, ...(device ? { device } : {}), ok: checks.every((c) => c.status !== 'fail'), checks };
}

async function checkSums(dir: string, img: OpenedImage, imageSha: string): Promise<Check[]> {
  const sumsPath = join(dir, 'SHA256SUMS');
  const text = await readFile(sumsPath, 'utf8').catch(() => undefined);
  if (text === undefined) return [skip('SHA256SUMS', `no ${sumsPath}`)];
  const lines = parseSha256Sums(text, sumsPath);
  const checks: Check[] = [];
  const imgName = basename(img.path);
  if (!lines.some((l) => l.file === imgName)) checks.push(fail(`SHA256SUMS ${imgName}`, 'the image is not listed'));
  for (const l of lines) {
    const subject = `SHA256SUMS ${l.file}`;
    if (l.file === imgName) {
      checks.push(expectSum(subject, l.sha256, imageSha));
      continue;
    }
    const path = join(dir, l.file);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) checks.push(fail(subject, 'listed but missing'));
    else checks.push(expectSum(subject, l.sha256, await sha256File(path)));
  }
  return checks;
}

function expectSum(subject: string, expected: string, actual: string): Check {
  return expected === actual ? ok(subject, actual) : fail(subject, `listed ${expected}, file has ${actual}`);
}

async function checkFileHash(subject: string, path: string, sha: string, size?: number): Promise<Check> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) return fail(subject, `missing: ${path}`);
  if (size !== undefined && st.size !== size) return fail(subject, `manifest says ${size} bytes, file has ${st.size}`);
  return expectEqual(`${subject} sha256`, sha, await sha256File(path));
}

/** zstd's own frame checks, plus the decompressed size recorded in the frame header. */
async function checkZstd(path: string, imageSize: number): Promise<Check> {
  const subject = `${basename(path)} integrity`;
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) return fail(subject, `missing: ${path}`);
  try {
    await run('zstd', ['-t', '-q', path]);
  } catch (err) {
    return fail(subject, `zstd -t failed: ${err instanceof Error ? err.message.split('\n').slice(-1)[0] : String(err)}`);
  }
  const list = await run('zstd', ['-l', '-v', path]).catch(() => undefined);
  const m = /Decompressed Size:.*\((\d+) B\)/.exec(list?.stdout ?? '');
  if (m?.[1] && Number(m[1]) !== imageSize) return fail(subject, `decompresses to ${m[1]} bytes, the image has ${imageSize}`);
  return ok(subject, m?.[1] ? `frames intact, decompresses to ${m[1]} bytes` : 'frames intact');
}

async function findBmap(src: Source, dir: string): Promise<string | undefined> {
  const candidates = src.manifest
    ? [join(dir, basename(src.manifest.image.bmap.file))]
    : [`${src.imagePath.replace(/\.img$/, '')}.bmap`, `${src.imagePath}.bmap`];
  for (const c of candidates) if ((await stat(c).catch(() => undefined))?.isFile()) return c;
  return undefined;
}

async function loadBmap(path: string): Promise<{ bmap: Bmap; checks: Check[] }> {
  const text = await readFile(path, 'utf8');
  const bmap = parseBmap(text);
  const selfOk = bmapSelfChecksumOk(text, bmap);
  return {
    bmap,
    checks: [selfOk ? ok('bmap file checksum', bmap.fileChecksum) : fail('bmap file checksum', 'BmapFileChecksum does not match the file: edited or damaged')],
  };
}

/** Every mapped range of the bmap hashed on `target` (the image itself or a written device). */
async function checkBmapAgainst(bmapPath: string, target: string, targetSize: number, what: string): Promise<Check[]> {
  const { bmap, checks } = await loadBmap(bmapPath);
  if (what === 'image') checks.push(expectEqual('bmap image size', bmap.imageSize, targetSize));
  else if (targetSize < bmap.imageSize) {
    checks.push(fail(`${what} size`, `${targetSize} bytes, smaller than the image (${bmap.imageSize})`));
    return checks;
  }
  const bad: string[] = [];
  let bytes = 0;
  for (const r of bmap.ranges) {
    const { offset, length } = rangeBytes(bmap, r);
    bytes += length;
    if ((await sha256Range(target, offset, length)) !== r.sha256) bad.push(r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`);
  }
  const subject = `bmap ranges on ${what}`;
  if (bad.length === 0) checks.push(ok(subject, `${bmap.ranges.length} ranges, ${bytes} mapped bytes match`));
  else
    checks.push(
      fail(
        subject,
        `${bad.length} of ${bmap.ranges.length} ranges differ (blocks of ${bmap.blockSize} bytes: ${bad.slice(0, SHOWN_RANGES).join(', ')}${bad.length > SHOWN_RANGES ? ', ...' : ''})`,
      ),
    );
  return checks;
}

async function checkDevice(img: OpenedImage, dir: string, src: Source, device: string): Promise<Check[]> {
  const st = await stat(device).catch(() => undefined);
  if (!st) throw new KilnError(`--device ${device}: no such device or file`);
  const size = await fileSize(device);
  const bmapPath = await findBmap(src, dir);
  if (bmapPath) return checkBmapAgainst(bmapPath, device, size, 'device');
  // No block map: the whole image must be on the device, byte for byte.
  if (size < img.size) return [fail('device size', `${size} bytes, smaller than the image (${img.size})`)];
  const [want, got] = await Promise.all([sha256File(img.path), sha256Range(device, 0, img.size)]);
  return [
    skip('bmap', 'no block map found beside the image; comparing the whole image range'),
    want === got ? ok('device bytes 0..image size', want) : fail('device bytes 0..image size', `image ${want}, device ${got}`),
  ];
}
