import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freeTcpPort } from '../../helpers/net.js';
import { tempDir } from '../../helpers/tmp.js';

// `kiln pin k3s` against a fake release on loopback: a real HTTP server and the real CLI
// (bin/kiln.js runs dist-js/: `npx tsc -p tsconfig.json` first). The served files are FIXTURES,
// a few bytes of text named like k3s's release files; they are not k3s.

const kiln = resolve('bin/kiln.js');
const version = 'v9.9.9+k3s1';

const fixture = {
  'k3s-arm64': Buffer.from('FIXTURE standing in for k3s-arm64 in kiln pin tests; not k3s\n'),
  // big enough for a few progress reports, still only a fixture
  'k3s-airgap-images-arm64.tar.zst': Buffer.alloc(3 * 1048576, 'FIXTURE standing in for the k3s airgap bundle; not k3s\n'),
};
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const goodSums = Object.entries(fixture)
  .map(([name, data]) => `${sha(data)}  ${name}\n`)
  .join('');

/** What the server answers for sha256sum-arm64.txt; the release files are always the fixtures. */
let sums = goodSums;
let server: Server;
let base: string;

beforeAll(async () => {
  if (!existsSync('dist-js/cli/pin.js')) throw new Error('dist-js/cli/pin.js missing: run npx tsc -p tsconfig.json first');
  server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '').replace(/^\/release\//, ''));
    const body = name === 'sha256sum-arm64.txt' ? Buffer.from(sums) : fixture[name as keyof typeof fixture];
    if (!body) {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  const port = await freeTcpPort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  base = `http://127.0.0.1:${port}/release/`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

async function pin(...args: string[]) {
  return execa(process.execPath, [kiln, 'pin', 'k3s', version, ...args], { reject: false, timeout: 60_000 });
}

async function specCopy(dir: string): Promise<{ spec: string; before: string }> {
  const spec = join(dir, 'pi-k3s.yaml');
  await copyFile('images/pi-k3s.yaml', spec);
  return { spec, before: await readFile(spec, 'utf8') };
}

describe('kiln pin k3s', () => {
  it('checks both files against the sums file, rewrites the two pins and fills the cache', async () => {
    sums = goodSums;
    const work = tempDir('pin');
    const { spec, before } = await specCopy(work);
    const cache = join(work, 'cache');
    const r = await pin('--spec', spec, '--release-url', base, '--cache', cache);
    expect(r.stderr).not.toContain('error');
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('k3s-airgap-images-arm64.tar.zst: 3.0 / 3.0 MiB');

    const after = await readFile(spec, 'utf8');
    const arts = (parse(after) as { artifacts: Record<string, Record<string, string>> }).artifacts;
    for (const [artifact, file] of [
      ['k3s', 'k3s-arm64'],
      ['k3s-airgap-images', 'k3s-airgap-images-arm64.tar.zst'],
    ] as const) {
      expect(arts[artifact]?.version).toBe(version);
      expect(arts[artifact]?.url).toBe(`${base}${file}`);
      expect(arts[artifact]?.sha256).toBe(sha(fixture[file]));
      // the next build finds it in the cache, as after kiln cache add
      expect(existsSync(join(cache, 'blobs', 'sha256', sha(fixture[file])))).toBe(true);
    }
    expect(arts.k3s?.install).toBe('/usr/local/bin/k3s');
    expect(arts.k3s?.mode).toBe('0755');
    // everything before the pins is byte-identical, comments included
    const head = before.slice(0, before.indexOf('artifacts:\n'));
    expect(after.startsWith(head)).toBe(true);
    // the old two-line pin comment became kiln's two lines; no line was added or dropped elsewhere
    expect(after.split('\n')).toHaveLength(before.split('\n').length);
    expect(after).toContain(`# Checked against upstream's sha256sum-arm64.txt of ${version} by \`kiln pin k3s\` on `);
    expect(r.stdout).toContain(`k3s: v1.36.4+k3s1 -> ${version}`);
  });

  it('refuses a file that does not hash to the sums file, naming it and both hashes; the spec stays byte-identical', async () => {
    const wrong = 'e'.repeat(64);
    sums = goodSums.replace(sha(fixture['k3s-arm64']), wrong);
    const work = tempDir('pin-mismatch');
    const { spec, before } = await specCopy(work);
    const r = await pin('--spec', spec, '--release-url', base, '--cache', join(work, 'cache'));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`k3s-arm64: downloaded from ${base}k3s-arm64`);
    expect(r.stderr).toContain(sha(fixture['k3s-arm64']));
    expect(r.stderr).toContain(wrong);
    expect(await readFile(spec, 'utf8')).toBe(before);
    expect(existsSync(join(work, 'cache', 'blobs'))).toBe(false);
  });

  it('says it cannot reach a closed port, exits 4 and changes nothing', async () => {
    const work = tempDir('pin-closed');
    const { spec, before } = await specCopy(work);
    const closed = await freeTcpPort();
    const r = await pin('--spec', spec, '--release-url', `http://127.0.0.1:${closed}/`, '--no-cache');
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain(`cannot reach http://127.0.0.1:${closed}/sha256sum-arm64.txt`);
    expect(r.stderr).toContain('nothing was changed');
    expect(await readFile(spec, 'utf8')).toBe(before);
  });

  it('names a release the mirror does not have (HTTP 404) and changes nothing', async () => {
    sums = goodSums;
    const work = tempDir('pin-404');
    const { spec, before } = await specCopy(work);
    const r = await pin('--spec', spec, '--release-url', `${base}missing/`, '--no-cache');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${base}missing/sha256sum-arm64.txt answered HTTP 404`);
    expect(await readFile(spec, 'utf8')).toBe(before);
  });
});
