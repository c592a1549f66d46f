import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImagesResponse, VerifyStatus } from '../../../src/serve/http/api-types.js';
import { DIFF_CSP } from '../../../src/serve/http/image-api.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { baseSpec, buildFixture, type FixtureSpec } from '../../helpers/images/fs-image.js';
import { listenHttp } from '../../helpers/http-app.js';
import { tempDir } from '../../helpers/tmp.js';
import { http } from './http-client.js';

// The dashboard's `kiln verify` and `kiln diff` of served builds, on small real builds (FAT + ext4,
// with manifest, bmap, .zst and SHA256SUMS: test/helpers/images/fs-image.ts).

let app: FastifyInstance;
let base: string;
let registry: NodeRegistry;
const API = 'a'.repeat(64);
const auth = { authorization: `Bearer ${API}` };

const spec = (name: string, over: Partial<FixtureSpec> = {}): FixtureSpec => ({ ...baseSpec(), name, small: true, ...over });

beforeAll(async () => {
  const work = tempDir('dashboard-images');
  const imagesDir = join(work, 'dist');
  await buildFixture(imagesDir, spec('one'), { products: true });
  const base0 = baseSpec();
  await buildFixture(imagesDir, spec('two', { root: { ...base0.root, 'etc/motd': { content: 'line one\nline 2\nline three\n' } } }), { products: true });
  // a build whose image changed after the fact: one byte in the root partition
  const broken = await buildFixture(imagesDir, spec('broken'), { products: true });
  const fh = await open(broken.img, 'r+');
  await fh.write(Buffer.from([0xff]), 0, 1, broken.disk.partitions[1]?.offset ?? 0);
  await fh.close();
  registry = await openSqliteRegistry(join(work, 'kiln.db'));
  ({ app, base } = await listenHttp({ registry, imagesDir, apiToken: API }));
});

afterAll(async () => {
  await app?.close();
  await registry?.close();
});

async function verified(name: string): Promise<VerifyStatus> {
  for (let i = 0; i < 600; i++) {
    const s = (await http(base, 'GET', `/api/images/${name}/verify`, { headers: auth })).json<VerifyStatus>();
    if (s.state !== 'running') return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`verify of ${name} still running after a minute`);
}

describe('verify from the dashboard', () => {
  it('runs kiln verify of a build in the background (202, one run at a time) and keeps the result', async () => {
    expect((await http(base, 'GET', '/api/images/one/verify', { headers: auth })).json<VerifyStatus>()).toEqual({ state: 'unchecked' });
    const started = await http(base, 'POST', '/api/images/one/verify', { headers: auth });
    expect(started.status).toBe(202);
    expect(started.json<VerifyStatus>()).toEqual({ state: 'running' });
    // a second start while it runs joins it
    expect((await http(base, 'POST', '/api/images/one/verify', { headers: auth })).json<VerifyStatus>()).toEqual({ state: 'running' });
    const done = await verified('one');
    expect(done).toMatchObject({ state: 'ok', checkedAt: expect.any(String) });
    expect(done.message).toBeUndefined();
    const list = (await http(base, 'GET', '/api/images', { headers: auth })).json<ImagesResponse>();
    expect(list.images.find((i) => i.name === 'one')).toMatchObject({ verify: { state: 'ok' }, packageCount: 2 });
    expect(list.images.find((i) => i.name === 'two')?.verify).toEqual({ state: 'unchecked' });
  });

  it('fails a build whose bytes no longer match its manifest, saying which checks failed', async () => {
    expect((await http(base, 'POST', '/api/images/broken/verify', { headers: auth })).status).toBe(202);
    const s = await verified('broken');
    expect(s.state).toBe('failed');
    expect(s.message).toMatch(/^\d+ of \d+ checks failed: /);
    expect(s.message).toMatch(/sha256/);
  });
});

describe('diff from the dashboard', () => {
  it('serves kiln diff as HTML the dashboard can frame, under a CSP that allows only inline styles', async () => {
    const r = await http(base, 'GET', '/api/images/diff?a=one&b=two', { headers: auth });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'");
    expect(DIFF_CSP).toBe(r.headers['content-security-policy']);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    const html = r.body.toString();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<b>Different</b>');
    expect(html).toContain('/etc/motd');
    expect(html).toContain('<td class="v">one</td><td class="v">two</td>');
    // what the CSP allows is all the report uses: no script, no external resource
    expect(html).not.toMatch(/<script|<link|<img|src=|url\(/i);
    // the second ask is the cached report
    const t0 = Date.now();
    const again = await http(base, 'GET', '/api/images/diff?a=one&b=two', { headers: auth });
    expect(again.body.equals(r.body)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(500);
    const same = (await http(base, 'GET', '/api/images/diff?a=one&b=one', { headers: auth })).body.toString();
    expect(same).toContain('<b>Identical</b>');
  });

  it('needs the operator and names it knows', async () => {
    expect((await http(base, 'GET', '/api/images/diff?a=one&b=two')).status).toBe(401);
    expect((await http(base, 'GET', '/api/images/diff?a=one&b=three', { headers: auth })).status).toBe(404);
    expect((await http(base, 'GET', '/api/images/diff?a=one&b=two&c=1', { headers: auth })).status).toBe(400);
  });
});
