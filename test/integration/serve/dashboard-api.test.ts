import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageDetail, ImagesResponse, NodeResponse, NodesResponse, SessionResponse, StreamMessage } from '../../../src/serve/http/api-types.js';
import { SessionStore } from '../../../src/serve/http/session.js';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema, type NodeRecord } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { must } from '../../helpers/must.js';
import { listenHttp } from '../../helpers/http-app.js';
import { tempDir } from '../../helpers/tmp.js';
import { http, type Reply } from './http-client.js';
import { openSse, type SseStream } from './sse-client.js';

// The server side of the web dashboard over real sockets: sessions and CSRF, the live stream,
// node actions and the images API (verify and diff of real builds: dashboard-images.test.ts).

let work: string;
let app: FastifyInstance;
let base: string;
let registry: NodeRegistry;
const API = 'a'.repeat(64);
const metrics = new ServeMetrics();
/** Added to the sessions' clock: a test moves it past their lifetime. */
let skew = 0;
const sessions = new SessionStore({ now: () => Date.now() + skew });
const bearer = { authorization: `Bearer ${API}` };
const json = { 'content-type': 'application/json' };
let credential = '';

interface SignedIn {
  cookie: string;
  csrf: string;
  /** Cookie and CSRF header, as the dashboard sends them on a change. */
  headers: Record<string, string>;
}

async function signIn(from?: string): Promise<SignedIn> {
  const r = await http(base, 'POST', '/api/session', { body: JSON.stringify({ token: API }), headers: json, from });
  expect(r.status).toBe(201);
  const cookie = must(/kiln_session=([0-9a-f]{64})/.exec(String(r.headers['set-cookie']))?.[1], 'the session cookie');
  const { csrf } = r.json<SessionResponse>();
  return { cookie, csrf, headers: { cookie: `kiln_session=${cookie}`, 'x-csrf-token': csrf } };
}

const send = (method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Reply> =>
  http(base, method, path, { headers: { ...(body === undefined ? {} : json), ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const error = (r: Reply): string => r.json<{ error: string }>().error;
const metricsText = async (): Promise<string> => (await http(base, 'GET', '/metrics')).body.toString();

beforeAll(async () => {
  work = tempDir('dashboard');
  const imagesDir = join(work, 'dist');
  makeFixtureImages(imagesDir);
  makeFixtureImages(imagesDir, { name: 'second', imageSize: 64 * 1024 });
  // the build writes its SPDX file beside the image (src/builder/steps/manifest.ts)
  writeFileSync(join(imagesDir, 'fixture-image', 'fixture-image.spdx.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', packages: [] }));
  registry = await openSqliteRegistry(join(work, 'kiln.db'));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd', role: 'server', clusterInit: true }));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-02', serial: '0badf00d' }));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-yaml', serial: '0000aaaa' }), 'yaml');
  const { decision, credential: c } = await registry.enroll('pi-01', { token: await registry.installTokenFor('pi-01'), previous: undefined, ip: '127.0.0.2' });
  if (!decision.ok || !c) throw new Error('enrolling pi-01');
  credential = c;
  ({ app, base } = await listenHttp({
    registry,
    metrics,
    imagesDir,
    apiToken: API,
    dashboard: { sessions, signInLimit: { burst: 3, perMinute: 1 }, stream: { pollMs: 50, maxSubscribers: 3 } },
  }));
});

afterAll(async () => {
  await app?.close();
  await registry?.close();
});

describe('dashboard sign-in', () => {
  it('trades the API token for an HttpOnly, SameSite=Strict session cookie and a CSRF token', async () => {
    const r = await http(base, 'POST', '/api/session', { body: JSON.stringify({ token: API }), headers: json });
    expect(r.status).toBe(201);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/^kiln_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    expect(r.headers['cache-control']).toBe('no-store');
    const s = r.json<SessionResponse>();
    expect(s.csrf).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(s.expiresAt) - Date.now()).toBeGreaterThan(11.9 * 3_600_000);
    // a reloaded page gets the same CSRF token back with the cookie
    const cookie = setCookie.split(';')[0] ?? '';
    const again = await http(base, 'GET', '/api/session', { headers: { cookie } });
    expect(again.status).toBe(200);
    expect(again.json<SessionResponse>()).toEqual(s);
    // no session is an answer (204, nothing in it), not a refusal
    expect((await http(base, 'GET', '/api/session')).status).toBe(204);
    expect((await http(base, 'GET', '/api/session', { headers: { cookie: `kiln_session=${'f'.repeat(64)}` } })).status).toBe(204);
  });

  it('refuses a wrong token with 403, counts it and does not log the token', async () => {
    const before = /kiln_dashboard_sign_ins_total\{result="refused"\} (\d+)/.exec(await metricsText())?.[1] ?? '0';
    const r = await http(base, 'POST', '/api/session', { body: JSON.stringify({ token: 'b'.repeat(64) }), headers: json, from: '127.0.0.60' });
    expect(r.status).toBe(403);
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(await metricsText()).toContain(`kiln_dashboard_sign_ins_total{result="refused"} ${Number(before) + 1}`);
    expect((await http(base, 'POST', '/api/session', { body: '{"token": 5}', headers: json })).status).toBe(400);
  });

  it('limits failed sign-ins per address: past the burst even the right token waits (429); other addresses sign in', async () => {
    const attempt = (token: string, from: string) => http(base, 'POST', '/api/session', { body: JSON.stringify({ token }), headers: json, from });
    for (let i = 0; i < 3; i++) expect((await attempt('c'.repeat(64), '127.0.0.77')).status).toBe(403);
    const limited = await attempt(API, '127.0.0.77');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect(await metricsText()).toMatch(/kiln_dashboard_sign_ins_total\{result="limited"\} 1/);
    expect((await attempt(API, '127.0.0.78')).status).toBe(201);
  });

  it('refuses a sign-in posted from another origin', async () => {
    const r = await http(base, 'POST', '/api/session', { body: JSON.stringify({ token: API }), headers: { ...json, origin: 'http://evil.example' } });
    expect(r.status).toBe(403);
    expect(error(r)).toMatch(/Origin/);
  });
});

describe('operator routes with the session cookie', () => {
  it('reads with the cookie alone; without cookie or token the answer is the same 401 as before', async () => {
    const s = await signIn();
    const r = await http(base, 'GET', '/api/nodes', { headers: { cookie: `other=1; kiln_session=${s.cookie}` } });
    expect(r.status).toBe(200);
    expect(r.json<NodesResponse>().nodes.map((n) => n.name)).toContain('pi-01');
    const none = await http(base, 'GET', '/api/nodes');
    expect(none.status).toBe(401);
    expect(error(none)).toBe('send the API token: Authorization: Bearer <token> (the file api-token in the state dir)');
    expect((await http(base, 'GET', '/api/nodes', { headers: { cookie: `kiln_session=${'f'.repeat(64)}` } })).status).toBe(401);
  });

  it('changes only with the CSRF token of the session, from no other origin', async () => {
    const s = await signIn();
    const path = '/api/nodes/pi-02/park';
    const missing = await send('POST', path, { cookie: `kiln_session=${s.cookie}` }, {});
    expect(missing.status).toBe(403);
    expect(error(missing)).toMatch(/CSRF token missing/);
    const other = await signIn();
    const wrong = await send('POST', path, { cookie: `kiln_session=${s.cookie}`, 'x-csrf-token': other.csrf }, {});
    expect(wrong.status).toBe(403);
    expect(error(wrong)).toMatch(/CSRF token wrong/);
    const crossSite = await send('POST', path, { ...s.headers, origin: 'http://evil.example:8080' }, {});
    expect(crossSite.status).toBe(403);
    expect(error(crossSite)).toMatch(/Origin does not match/);
    expect((await registry.mustGet('pi-02')).parked).toBeNull();
    const ok = await send('POST', path, { ...s.headers, origin: base }, {});
    expect(ok.status).toBe(200);
    expect(ok.json<{ node: NodeRecord }>().node.parked).toBe('parked by the operator');
    // reprovision and remove take the cookie and CSRF token too
    expect((await send('POST', '/api/nodes/pi-02/reprovision', { cookie: `kiln_session=${s.cookie}` })).status).toBe(403);
    expect((await send('POST', '/api/nodes/pi-02/reprovision', s.headers)).json<{ node: NodeRecord }>().node.parked).toBeNull();
    await registry.upsert(nodeInputSchema.parse({ name: 'pi-gone', serial: '0000dead' }));
    expect((await send('DELETE', '/api/nodes/pi-gone', { cookie: `kiln_session=${s.cookie}` })).status).toBe(403);
    expect((await send('DELETE', '/api/nodes/pi-gone', s.headers)).status).toBe(204);
    expect(await registry.get('pi-gone')).toBeUndefined();
  });

  it('the bearer API token works as before, with no CSRF token', async () => {
    const r = await send('PATCH', '/api/nodes/pi-02', bearer, { selfHeal: true });
    expect(r.status).toBe(200);
    expect(r.json<{ node: NodeRecord }>().node.selfHeal).toBe(true);
  });

  it('an expired session gets 401, and signing out ends the session (which needs the CSRF token)', async () => {
    const s = await signIn();
    skew = 12 * 3_600_000 + 1000;
    try {
      expect((await http(base, 'GET', '/api/nodes', { headers: { cookie: `kiln_session=${s.cookie}` } })).status).toBe(401);
      expect(error(await send('POST', '/api/nodes/pi-02/unpark', s.headers, {}))).toMatch(/expired/);
    } finally {
      skew = 0;
    }
    expect((await http(base, 'GET', '/api/nodes', { headers: { cookie: `kiln_session=${s.cookie}` } })).status).toBe(401);
    const t = await signIn();
    expect((await send('DELETE', '/api/session', { cookie: `kiln_session=${t.cookie}` })).status).toBe(403);
    const out = await send('DELETE', '/api/session', t.headers);
    expect(out.status).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^kiln_session=; .*Max-Age=0$/);
    expect((await http(base, 'GET', '/api/nodes', { headers: { cookie: `kiln_session=${t.cookie}` } })).status).toBe(401);
  });
});

describe('live stream', () => {
  const streams: SseStream[] = [];
  const open = async (path: string, headers: Record<string, string>): Promise<SseStream> => {
    const s = await openSse(base, path, headers);
    streams.push(s);
    return s;
  };
  const parsed = (m: { data: string }): StreamMessage => JSON.parse(m.data) as StreamMessage;
  afterAll(async () => {
    for (const s of streams) s.close();
  });

  it('needs the operator, like every other read', async () => {
    const s = await open('/api/stream', {});
    expect(s.status).toBe(401);
    await s.ended();
    // HEAD answers the headers and holds nothing open
    const head = await http(base, 'HEAD', '/api/stream', { headers: bearer });
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe('text/event-stream; charset=utf-8');
  });

  it('delivers events recorded after connecting: a node report with its progress, a discovered Pi, DHCP activity', async () => {
    const who = await signIn();
    const s = await open('/api/stream', { cookie: `kiln_session=${who.cookie}` });
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    // a reported event, through the API as the installer posts it
    const report = await send(
      'POST',
      '/api/nodes/pi-01/events',
      { authorization: `Bearer ${credential}` },
      { type: 'install-progress', bytes: 25, total: 100 },
    );
    expect(report.status).toBe(201);
    const m1 = await s.waitFor((m) => parsed(m).event.type === 'install-progress');
    expect(m1.event).toBe('node-event');
    const msg = parsed(m1);
    expect(m1.id).toBe(String(msg.event.id));
    expect(msg.node).toMatchObject({ name: 'pi-01', state: 'installing' });
    expect(msg.progress).toMatchObject({ percent: 25, bytes: 25, total: 100 });
    // a discovered Pi: written at once by the registry (as the DHCP path does)
    await registry.recordDiscovered('dc:a6:32:00:00:42', 'd15c0042', '127.0.0.42', { model: 'pi5', boardRevision: 'c04170' });
    const m2 = parsed(await s.waitFor((m) => parsed(m).event.type === 'discovered'));
    expect(m2.node).toMatchObject({ name: 'pi-d15c0042', plan: 'discovered', model: 'pi5' });
    expect(m2.progress).toBeUndefined();
    // activity goes through the aggregator, which writes the first of a window at once
    await registry.activity('pi-02', 'dhcp-seen', { mac: 'dc:a6:32:00:00:02' });
    await s.waitFor((m) => parsed(m).event.type === 'dhcp-seen');
    // in id order, and nothing from before the stream opened
    const ids = s.messages.map((m) => Number(m.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids[0]).toBe(msg.event.id);
  });

  it('resumes after Last-Event-ID (or after=), so a reconnecting browser misses nothing', async () => {
    const first = must((await registry.events({ limit: 3 }))[0], 'a recent event');
    const s = await open('/api/stream?after=0', { ...bearer, 'last-event-id': String(first.id - 1) });
    const got = await s.waitFor((m) => Number(m.id) === first.id);
    expect(s.messages[0]).toBe(got);
    const q = await open(`/api/stream?after=${first.id}`, bearer);
    await q.waitFor(() => true);
    expect(Number(q.messages[0]?.id)).toBeGreaterThan(first.id);
    expect((await open('/api/stream?after=-1', bearer)).status).toBe(400);
    for (const s2 of [s, q]) s2.close();
  });

  it('refuses streams beyond the bound with 503, and ends a session stream at sign-out', async () => {
    for (const s of streams) s.close();
    await new Promise((r) => setTimeout(r, 100));
    const who = await signIn();
    const mine = await open('/api/stream', { cookie: `kiln_session=${who.cookie}` });
    const others = [await open('/api/stream', bearer), await open('/api/stream', bearer)];
    for (const o of [mine, ...others]) expect(o.status).toBe(200);
    const busy = await open('/api/stream', bearer);
    expect(busy.status).toBe(503);
    expect(busy.body()).toMatch(/live streams are open already/);
    expect(await metricsText()).toMatch(/kiln_dashboard_streams 3/);
    expect((await send('DELETE', '/api/session', who.headers)).status).toBe(204);
    await mine.ended();
    for (const o of others) o.close();
  });
});

describe('node actions', () => {
  const patch = (name: string, body: unknown) => send('PATCH', `/api/nodes/${name}`, bearer, body);

  it('PATCH changes settings and names the field and line of a refusal', async () => {
    const ok = await patch('pi-02', { configTxt: ['dtoverlay=disable-wifi', '[pi4]', 'gpu_mem=16'], disk: '/dev/nvme0n1' });
    expect(ok.status).toBe(200);
    expect(ok.json<{ node: NodeRecord }>().node).toMatchObject({ configTxt: ['dtoverlay=disable-wifi', '[pi4]', 'gpu_mem=16'], disk: 'nvme0n1' });
    const ev = (await http(base, 'GET', '/api/nodes/pi-02', { headers: bearer })).json<NodeResponse>().events.at(-1);
    expect(ev).toMatchObject({ type: 'updated', data: { changed: { disk: 'nvme0n1' } } });
    for (const [body, why] of [
      [{ configTxt: ['gpu_mem=16', 'kernel=evil.img'] }, /^configTxt\.1: kernel is refused: /],
      [{ configTxt: ['gpu_mem=16', 'gpu_mem=16', 'include other.txt'] }, /^configTxt\.2: /],
      [{ disk: 'sda1' }, /^disk: is a partition/],
      [{ plan: 'local' }, /plan/],
      [{ configTxt: 'gpu_mem=16' }, /^configTxt: /],
    ] as const) {
      const r = await patch('pi-02', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(error(r), JSON.stringify(body)).toMatch(why);
    }
    const yaml = await patch('pi-yaml', { selfHeal: true });
    expect(yaml.status).toBe(403);
    expect(error(yaml)).toMatch(/nodes.yaml/);
    expect((await patch('pi-99', {})).status).toBe(404);
  });

  it('parks with a reason and unparks (409 when not parked); a discovered Pi is not parked', async () => {
    const park = await send('POST', '/api/nodes/pi-01/park', bearer, { reason: 'moving racks' });
    expect(park.json<{ node: NodeRecord }>().node).toMatchObject({ parked: 'moving racks', state: 'failed' });
    expect((await send('POST', '/api/nodes/pi-01/park', bearer, { reason: '' })).status).toBe(400);
    const unpark = await send('POST', '/api/nodes/pi-01/unpark', bearer, {});
    expect(unpark.status).toBe(200);
    expect(unpark.json<{ node: NodeRecord }>().node).toMatchObject({ parked: null, state: 'registered' });
    expect((await registry.events({ node: 'pi-01', limit: 1 }))[0]).toMatchObject({ type: 'unparked', data: { reason: 'moving racks' } });
    const again = await send('POST', '/api/nodes/pi-01/unpark', bearer);
    expect(again.status).toBe(409);
    expect(error(again)).toMatch(/not parked/);
    await registry.recordDiscovered('dc:a6:32:00:00:43', 'd15c0043', null);
    expect((await send('POST', '/api/nodes/pi-d15c0043/park', bearer, {})).status).toBe(409);
  });

  it('approves a discovered Pi under a new name (201) with its identity; only a discovered one', async () => {
    await registry.recordDiscovered('dc:a6:32:00:00:44', 'd15c0044', null, { model: 'pi4', boardRevision: 'd03114' });
    const badImage = await send('POST', '/api/nodes/pi-d15c0044/approve', bearer, { name: 'rack-04', image: 'nope' });
    expect(badImage.status).toBe(400);
    expect(error(badImage)).toMatch(/^image: no image named nope/);
    expect(error(await send('POST', '/api/nodes/pi-d15c0044/approve', bearer, { name: 'Rack 04' }))).toMatch(/^name: must be a DNS label/);
    const r = await send('POST', '/api/nodes/pi-d15c0044/approve', bearer, { name: 'rack-04', role: 'agent', image: 'fixture-image' });
    expect(r.status).toBe(201);
    expect(r.json<{ node: NodeRecord }>().node).toMatchObject({
      name: 'rack-04',
      serial: 'd15c0044',
      mac: 'dc:a6:32:00:00:44',
      image: 'fixture-image',
      plan: 'install',
      model: 'pi4',
    });
    expect(await registry.get('pi-d15c0044')).toBeUndefined();
    expect((await send('POST', '/api/nodes/rack-04/approve', bearer, { name: 'rack-05' })).status).toBe(409);
    expect((await send('POST', '/api/nodes/pi-d15c0043/approve', bearer, { name: 'pi-01' })).status).toBe(409);
  });

  it('lists install progress of installing nodes only', async () => {
    await registry.record('pi-01', 'install-progress', { progress: 61.25, bytesPerSecond: 1e6 });
    const list = (await http(base, 'GET', '/api/nodes', { headers: bearer })).json<NodesResponse>();
    expect(list.progress).toEqual({ 'pi-01': { percent: 61.3, bytesPerSecond: 1e6, at: expect.any(String) } });
    const one = (await http(base, 'GET', '/api/nodes/pi-01', { headers: bearer })).json<NodeResponse>();
    expect(one.progress?.percent).toBe(61.3);
    await registry.record('pi-01', 'installed', {});
    expect((await http(base, 'GET', '/api/nodes', { headers: bearer })).json<NodesResponse>().progress).toEqual({});
    expect((await http(base, 'GET', '/api/nodes/pi-01', { headers: bearer })).json<NodeResponse>().progress).toBeUndefined();
  });
});

describe('images API', () => {
  it('lists each build with its date, packages, boards and verify status', async () => {
    const r = (await http(base, 'GET', '/api/images', { headers: bearer })).json<ImagesResponse>();
    expect(r.images.map((i) => i.name)).toEqual(['fixture-image', 'second']);
    expect(r.images[0]).toMatchObject({
      name: 'fixture-image',
      builtAt: '2023-11-14T22:13:20.000Z',
      packageCount: 0,
      boards: [],
      installer: false,
      verify: { state: 'unchecked' },
      files: { img: '/images/fixture-image/fixture-image.img' },
    });
  });

  it('gives a build its manifest and its SBOM when the build wrote one', async () => {
    const d = (await http(base, 'GET', '/api/images/fixture-image', { headers: bearer })).json<ImageDetail>();
    expect(d.image.name).toBe('fixture-image');
    expect(d.manifest).toMatchObject({ name: 'fixture-image', sourceDateEpoch: 1700000000 });
    expect(d.sbom).toEqual({ spdxVersion: 'SPDX-2.3', packages: [] });
    expect((await http(base, 'GET', '/api/images/second', { headers: bearer })).json<ImageDetail>().sbom).toBeNull();
    expect((await http(base, 'GET', '/api/images/nope', { headers: bearer })).status).toBe(404);
    expect((await http(base, 'GET', '/api/images/nope/verify', { headers: bearer })).status).toBe(404);
    expect((await http(base, 'GET', '/api/images/diff?a=fixture-image&b=nope', { headers: bearer })).status).toBe(404);
    expect(error(await http(base, 'GET', '/api/images/diff?a=fixture-image', { headers: bearer }))).toMatch(/^b: /);
    expect((await http(base, 'GET', '/api/images/fixture-image')).status).toBe(401);
  });
});
