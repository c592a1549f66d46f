import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { checkK3sVersion, currentPins, K3S_PINS, type K3sPin, k3sSums, releaseBase, releaseFileUrl, rewritePins, SUMS_FILE } from '../spec/pin-k3s.js';
import { BlobStore } from '../store/blob-store.js';
import { writeFileAtomically } from '../util/atomic.js';
import { EXIT, KilnError } from '../util/errors.js';
import { defaultCacheDir } from '../util/paths.js';

// `kiln pin k3s <version>`: the network half. Every download is checked against upstream's sums
// file before the spec is touched, and the spec is written last and atomically, so a failure at
// any step (unreachable, HTTP error, a hash that does not agree) leaves it byte-identical.

const UNREACHABLE_HINT =
  'nothing was changed; run kiln pin k3s on a machine that can reach the release and commit the spec, ' +
  'or pass --release-url <mirror>, or pin by hand and bring the files in with kiln cache add <file>';

/** A GET whose failure names the URL and says why: unreachable is the host's problem (EXIT.host), a 404 most likely a wrong version. */
async function get(url: string, what: string, timeoutMs: number): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new KilnError(`${what}: cannot reach ${url} (${cause})`, { exitCode: EXIT.host, hint: UNREACHABLE_HINT, cause: err });
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    const notFound = res.status === 404;
    throw new KilnError(`${what}: ${url} answered HTTP ${res.status} ${res.statusText}`, {
      exitCode: notFound ? EXIT.invalid : EXIT.host,
      hint: notFound ? 'is the version a published k3s release (https://github.com/k3s-io/k3s/releases)? nothing was changed' : UNREACHABLE_HINT,
    });
  }
  return res;
}

/** Progress on stderr: rewritten in place on a terminal, a line per quarter otherwise (CI logs). */
function progress(file: string, total: number): (done: number) => void {
  const mib = (n: number): string => (n / 1048576).toFixed(1);
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let quarter = 0;
  return (done) => {
    const finished = total > 0 && done >= total;
    if (tty) {
      const now = Date.now();
      if (!finished && now - last < 250) return;
      last = now;
      process.stderr.write(`\r${file}: ${mib(done)}${total ? ` / ${mib(total)}` : ''} MiB${finished ? '\n' : ''}`);
    } else if (total > 0 && Math.floor((4 * done) / total) > quarter) {
      quarter = Math.floor((4 * done) / total);
      process.stderr.write(`${file}: ${mib(done)} / ${mib(total)} MiB\n`);
    }
  };
}

/** Downloads `url` to `dest`, hashing the bytes as they arrive; returns their sha256. */
async function download(url: string, dest: string, file: string, showProgress: boolean): Promise<string> {
  // the airgap bundle is a few hundred MiB: the same generous limit as the build's own downloads
  const res = await get(url, file, 15 * 60_000);
  const total = Number(res.headers.get('content-length') ?? 0);
  const report = showProgress ? progress(file, total) : undefined;
  const h = createHash('sha256');
  let done = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      done += chunk.length;
      report?.(done);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as ReadableStream<Uint8Array>), tap, createWriteStream(dest));
  } catch (err) {
    throw new KilnError(`${file}: download from ${url} broke off after ${done} bytes (${(err as Error).message})`, {
      exitCode: EXIT.host,
      hint: UNREACHABLE_HINT,
      cause: err,
    });
  }
  if (report && total === 0) process.stderr.write(`${file}: ${(done / 1048576).toFixed(1)} MiB\n`);
  return h.digest('hex');
}

interface PinOptions {
  spec: string;
  releaseUrl?: string;
  cache: string | false;
}

async function pinK3s(versionArg: string, o: PinOptions): Promise<void> {
  const version = checkK3sVersion(versionArg);
  const base = releaseBase(version, o.releaseUrl);
  let before: string;
  try {
    before = await readFile(o.spec, 'utf8');
  } catch (err) {
    throw new KilnError(`--spec ${o.spec}: cannot read (${(err as Error).message})`, { exitCode: EXIT.invalid });
  }
  // before any download: a spec kiln cannot rewrite should not cost a few hundred MiB first
  const old = currentPins(before, o.spec);

  const sumsUrl = releaseFileUrl(base, SUMS_FILE);
  const sums = k3sSums(await (await get(sumsUrl, SUMS_FILE, 60_000)).text(), sumsUrl);

  const work = await mkdtemp(join(tmpdir(), 'kiln-pin-'));
  try {
    const pins: K3sPin[] = [];
    const files: { path: string; sha256: string }[] = [];
    for (const { artifact, file } of K3S_PINS) {
      const url = releaseFileUrl(base, file);
      const expected = sums[file] ?? '';
      const path = join(work, file);
      const actual = await download(url, path, file, artifact === 'k3s-airgap-images');
      if (actual !== expected) {
        throw new KilnError(`${file}: downloaded from ${url}, it hashes to sha256 ${actual}, but ${sumsUrl} says ${expected}`, {
          exitCode: EXIT.invalid,
          hint: 'the release or the mirror does not agree with itself (a re-uploaded file, a broken mirror or a tampered transfer); nothing was changed',
        });
      }
      // the spec records where these bytes actually came from (a mirror's URL when --release-url was given)
      pins.push({ artifact, version, url, sha256: actual });
      files.push({ path, sha256: actual });
    }

    // the spec is checked and rewritten in memory before the cache is filled: a refusal leaves both alone
    const now = await readFile(o.spec, 'utf8');
    if (now !== before) throw new KilnError(`--spec ${o.spec} changed while kiln pin was downloading; run it again`, { exitCode: EXIT.invalid });
    const out = rewritePins(before, o.spec, pins, { version, date: new Date().toISOString().slice(0, 10) });

    if (o.cache !== false) {
      const store = new BlobStore(o.cache);
      for (const f of files) await store.addFile(f.path, f.sha256);
    }
    const mode = (await stat(o.spec)).mode & 0o7777;
    await writeFileAtomically(o.spec, out.text, mode);

    for (const p of pins) {
      const was = old.find((x) => x.artifact === p.artifact);
      const same = was?.sha256 === p.sha256 && was.version === p.version && was.url === p.url;
      process.stdout.write(`${p.artifact}: ${same ? 'unchanged' : `${was?.version ?? '?'} -> ${p.version}`}, sha256 ${p.sha256}\n  ${p.url}\n`);
    }
    process.stdout.write(`checked against ${sumsUrl}; wrote ${o.spec}\n`);
    if (!out.commented) process.stdout.write('the comment above the pins was left as it was: they sit in a flow mapping\n');
    if (o.cache !== false) process.stdout.write(`both files are in the cache ${o.cache}; the next build will not download them\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export function registerPin(program: Command): void {
  const pin = program.command('pin').description('Pin an upstream release in an image spec after checking it against upstream checksums');
  pin
    .command('k3s')
    .argument('<version>', 'the k3s release tag, e.g. v1.32.0+k3s1')
    .description(
      `Read the release's ${SUMS_FILE}, download the k3s binary and the airgap image bundle, check each hashes to its entry there, ` +
        "and rewrite the spec's k3s and k3s-airgap-images artifacts (version, url, sha256), keeping every other line and comment of the file. " +
        'Nothing is changed when a file cannot be reached (exit 4) or a hash does not agree (exit 2).',
    )
    .option('--spec <file>', 'the image spec to rewrite', 'images/pi-k3s.yaml')
    .option('--release-url <base>', 'where the release files are, for a mirror (default: https://github.com/k3s-io/k3s/releases/download/<version>/)')
    .option('--cache <dir>', 'also put both files into this cache, so the next build need not download them', defaultCacheDir())
    .option('--no-cache', 'do not put the downloaded files into the cache')
    .action(async (version: string, o: PinOptions) => pinK3s(version, o));
}
