import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadImages } from '../../../src/serve/images.js';
import { ServeLookup } from '../../../src/serve/lookup.js';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { http } from './http-client.js';
import { must } from '../../helpers/must.js';
import { listenHttp } from '../../helpers/http-app.js';
import { tempDir } from '../../helpers/tmp.js';

// fastify on a real socket (127.0.0.1:0); requests from distinct loopback addresses stand in for
// distinct nodes.
let work: string;
let app: FastifyInstance;
let base: string;
let registry: NodeRegistry;
let imgPath: string;
const API = 'a'.repeat(64);
const K3S = 'K10fixturetoken';
const metrics = new ServeMetrics();
const auth = { authorization: `Bearer ${API}` };
const json = { 'content-type': 'application/json' };
/** Each node's credential, as its installer got it by enrolling. */
const cred: Record<string, string> = {};

/** What the installer does: trade the node's install token for its credential; then the node reports from `ip`. */
async function enrolled(name: string, ip: string): Promise<string> {
  const { decision, credential } = await registry.enroll(name, { token: await registry.installTokenFor(name), previous: undefined, ip });
  if (!decision.ok || !credential) throw new Error(`enrolling ${name}: ${JSON.stringify(decision)}`);
  await registry.bindAddress(name, ip);
  return credential;
}
const seedPath = (name: string, file: string, credential = cred[name]): string => `/seed/${name}/${credential}/${file}`;

beforeAll(async () => {
  work = tempDir('http');
  const imagesDir = join(work, 'dist');
  const { dir, name } = makeFixtureImages(imagesDir);
  imgPath = join(dir, `${name}.img`);
  registry = await openSqliteRegistry(join(work, 'kiln.db'));
  await registry.upsert(
    nodeInputSchema.parse({
      name: 'pi-01',
      serial: '1234abcd',
      role: 'server',
      clusterInit: true,
      sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureKey op@laptop'],
    }),
  );
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-02', serial: '0badf00d' }));
  cred['pi-01'] = await enrolled('pi-01', '127.0.0.2');
  cred['pi-02'] = await enrolled('pi-02', '127.0.0.3');
  const lookup = new ServeLookup(registry, await loadImages(imagesDir));
  metrics.bindNodeStates(() => registry.countByState());
  ({ app, base } = await listenHttp({ registry, lookup, metrics, imagesDir, apiToken: API, k3sToken: K3S }));
});

afterAll(async () => {
  await app?.close();
  await registry?.close();
});

describe('images over HTTP', () => {
  it('serves the whole image and byte ranges', async () => {
    const whole = readFileSync(imgPath);
    const full = await http(base, 'GET', '/images/fixture-image/fixture-image.img');
    expect(full.status).toBe(200);
    expect(full.headers['accept-ranges']).toBe('bytes');
    expect(full.body.equals(whole)).toBe(true);
    const part = await http(base, 'GET', '/images/fixture-image/fixture-image.img', { headers: { range: 'bytes=1000-5999' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 1000-5999/${whole.length}`);
    expect(part.body.equals(whole.subarray(1000, 6000))).toBe(true);
    const tail = await http(base, 'GET', '/images/fixture-image/fixture-image.img', { headers: { range: 'bytes=-100' } });
    expect(tail.body.equals(whole.subarray(whole.length - 100))).toBe(true);
    const bad = await http(base, 'GET', '/images/fixture-image/fixture-image.img', { headers: { range: `bytes=${whole.length + 10}-` } });
    expect(bad.status).toBe(416);
    expect((await http(base, 'GET', '/images/fixture-image/fixture-image.bmap')).status).toBe(200);
  });

  it('reads Range strictly: one decimal bytes range, else 416 with the size and the reason', async () => {
    const whole = readFileSync(imgPath);
    const url = '/images/fixture-image/fixture-image.img';
    const get = (range: string, extra: Record<string, string> = {}) => http(base, 'GET', url, { headers: { range, ...extra } });
    for (const [range, why] of [
      ['bytes=0x0-0x10', /is not FIRST-LAST, FIRST- or -SUFFIX in decimal digits/],
      ['bytes=+0-16', /decimal digits/],
      ['bytes= 0-16', /decimal digits/],
      ['bytes=0-16,32-48', /several ranges/],
      ['bytes=16-0', /comes before/],
      ['items=0-16', /only bytes/],
    ] as const) {
      const r = await get(range);
      expect(r.status, range).toBe(416);
      expect(r.headers['content-range'], range).toBe(`bytes */${whole.length}`);
      expect(r.json<{ error: string }>().error, range).toMatch(why);
      // a refusal, not the image
      expect(r.body.length, range).toBeLessThan(300);
    }
    const beyond = await get(`bytes=${whole.length}-`);
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${whole.length}`);
    const ok = await get('bytes=16-31');
    expect(ok.status).toBe(206);
    expect(ok.body.equals(whole.subarray(16, 32))).toBe(true);
    // If-Range: the same validator keeps the range, a stale one gets the whole (changed) file
    const etag = String(ok.headers.etag);
    expect((await get('bytes=16-31', { 'if-range': etag })).status).toBe(206);
    const stale = await get('bytes=16-31', { 'if-range': '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(whole)).toBe(true);
  });

  it('answers HEAD with the headers of the whole file, Range or not (Range is defined for GET only)', async () => {
    const size = readFileSync(imgPath).length;
    for (const range of [undefined, 'bytes=0-16', 'bytes=0x0-0x10']) {
      const r = await http(base, 'HEAD', '/images/fixture-image/fixture-image.img', { headers: range ? { range } : {} });
      expect(r.status, range).toBe(200);
      expect(r.headers['content-length'], range).toBe(String(size));
      expect(r.headers['accept-ranges'], range).toBe('bytes');
      expect(r.body.length).toBe(0);
    }
  });

  it('serves only the files the manifest names', async () => {
    for (const p of ['/images/fixture-image/boot', '/images/fixture-image/..%2F..%2Fetc%2Fpasswd', '/images/nope/nope.img', '/images/fixture-image/%2e%2e']) {
      expect((await http(base, 'GET', p)).status).toBe(404);
    }
  });

  it('serves ten concurrent downloads', async () => {
    const whole = readFileSync(imgPath);
    const all = await Promise.all(Array.from({ length: 10 }, () => http(base, 'GET', '/images/fixture-image/fixture-image.img')));
    for (const r of all) expect(r.body.equals(whole)).toBe(true);
  });
});

describe('NoCloud seed', () => {
  it('answers a node its own seed against its credential, with the contracted user-data', async () => {
    const r = await http(base, 'GET', seedPath('pi-01', 'user-data'), { from: '127.0.0.9' });
    expect(r.status).toBe(200);
    const text = r.body.toString();
    expect(text.startsWith('#cloud-config\n')).toBe(true);
    const doc = parse(text) as { hostname: string; ssh_authorized_keys: string[]; write_files: { path: string; permissions: string; content: string }[] };
    expect(doc.hostname).toBe('pi-01');
    expect(doc.ssh_authorized_keys).toEqual(['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureKey op@laptop']);
    const k3s = doc.write_files.find((f) => f.path === '/etc/rancher/k3s/config.yaml');
    expect(k3s?.permissions).toBe('0600');
    expect(parse(k3s?.content ?? '')).toEqual({ token: K3S, 'node-name': 'pi-01', 'cluster-init': true });
    const env = doc.write_files.find((f) => f.path === '/etc/kiln/node.env');
    expect(env?.permissions).toBe('0600');
    expect(env?.content).toContain('KILN_ROLE=server');
    expect(env?.content).toContain("KILN_EVENTS_URL='http://127.0.0.1:8080/api/nodes/pi-01/events'");
    expect(env?.content).toContain(`KILN_REPORT_TOKEN='${cred['pi-01']}'`);
    const meta = await http(base, 'GET', seedPath('pi-01', 'meta-data'));
    expect(parse(meta.body.toString())).toMatchObject({ 'local-hostname': 'pi-01' });
    expect((await http(base, 'GET', seedPath('pi-01', 'network-config'))).status).toBe(200);
  });

  it('gives a joining agent the server URL and the token', async () => {
    const r = await http(base, 'GET', seedPath('pi-02', 'user-data'));
    const doc = parse(r.body.toString()) as { write_files: { path: string; content: string }[] };
    const k3s = parse(doc.write_files[0]?.content ?? '') as Record<string, unknown>;
    expect(k3s).toEqual({ token: K3S, 'node-name': 'pi-02', server: 'https://127.0.0.2:6443' });
  });

  it('keeps the instance-id through 10,000 events (it comes from the stored provision id, not from a window of recent events)', async () => {
    const idOf = async (): Promise<string> =>
      (parse((await http(base, 'GET', seedPath('pi-02', 'meta-data'))).body.toString()) as { 'instance-id': string })['instance-id'];
    const before = await idOf();
    expect(before).toMatch(/^kiln-pi-02-[0-9a-f]{12}$/);
    await registry.batch(async (tx) => {
      for (let i = 0; i < 10_000; i++) await tx.record('pi-02', 'seed-fetched', { i });
    });
    expect(await idOf()).toBe(before);
    // a reprovision is what changes it (cloud-init then runs again on the rewritten disk)
    await registry.reprovision('pi-02');
    cred['pi-02'] = await enrolled('pi-02', '127.0.0.3');
    const after = await idOf();
    expect(after).not.toBe(before);
  });

  it("refuses the seed to the node's own address without the credential, to another node's credential, and for unknown nodes alike", async () => {
    // the address a node reported from proves nothing: anyone on the LAN can take it
    const byAddress = await http(base, 'GET', '/seed/pi-01/user-data', { from: '127.0.0.2' });
    expect(byAddress.status).toBe(403);
    expect(byAddress.body.toString()).not.toContain(K3S);
    expect((await http(base, 'GET', '/seed/pi-01/user-data', { from: '127.0.0.2', headers: { authorization: `Bearer ${cred['pi-01']}` } })).status).toBe(403);
    expect((await http(base, 'GET', seedPath('pi-01', 'user-data', cred['pi-02']))).status).toBe(403);
    expect((await http(base, 'GET', seedPath('pi-01', 'user-data', 'f'.repeat(64)))).status).toBe(403);
    // unknown node: the same answer as a wrong credential (no probing for names)
    const unknown = await http(base, 'GET', seedPath('pi-99', 'user-data', cred['pi-01']));
    expect(unknown.status).toBe(403);
    expect(unknown.body.toString()).toBe((await http(base, 'GET', seedPath('pi-01', 'user-data', 'f'.repeat(64)))).body.toString());
    expect((await http(base, 'GET', seedPath('pi-01', 'passwd'))).status).toBe(404);
  });
});

describe('enrolment: the install token for the node credential', () => {
  const enroll = (name: string, token: string | undefined, body: unknown = {}, from?: string) =>
    http(base, 'POST', `/api/nodes/${name}/enroll`, {
      body: JSON.stringify(body),
      headers: { ...json, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      from,
    });
  const alerts = async (name: string): Promise<unknown[]> =>
    (await registry.events({ node: name, limit: 1000 })).filter((e) => e.type === 'alert').map((e) => e.data.kind);

  it('hands out the credential once; a second use is refused, recorded and raised as an alert', async () => {
    await registry.upsert(nodeInputSchema.parse({ name: 'en-01', serial: 'e0000001' }));
    const token = must(await registry.installTokenFor('en-01'), 'the install token of en-01');
    expect((await enroll('en-01', undefined)).status).toBe(401);
    expect((await enroll('en-01', 'f'.repeat(64))).status).toBe(403);
    const first = await enroll('en-01', token, {}, '127.0.0.20');
    expect(first.status).toBe(201);
    const got = first.json<{ credential: string; seedUrl: string; eventsUrl: string }>();
    expect(got.credential).toMatch(/^[0-9a-f]{64}$/);
    expect(got.seedUrl).toBe(`http://127.0.0.1:8080/seed/en-01/${got.credential}/`);
    expect(got.eventsUrl).toBe('http://127.0.0.1:8080/api/nodes/en-01/events');
    expect(await alerts('en-01')).toEqual([]);
    const again = await enroll('en-01', token, {}, '127.0.0.21');
    expect(again.status).toBe(409);
    expect(again.json<{ error: string }>().error).toMatch(/already used/);
    expect(again.body.toString()).not.toContain(got.credential);
    expect(await alerts('en-01')).toEqual(['enrol-reused']);
    expect((await http(base, 'GET', '/metrics')).body.toString()).toMatch(/kiln_security_alerts_total\{kind="enrol-reused"\} 1/);
    // the first credential is still the node's: the refused second use changed nothing
    expect(await registry.hasCredential('en-01', got.credential)).toBe(true);
    // the install token is good for nothing else
    expect(
      (await http(base, 'POST', '/api/nodes/en-01/events', { body: '{"type":"install-failed"}', headers: { ...json, authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(403);
    expect((await http(base, 'GET', seedPath('en-01', 'user-data', token))).status).toBe(403);
  });

  it('an install token expires 30 minutes after it is first served; the next netboot gets a new one', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const r2 = await openSqliteRegistry(join(work, 'clock.db'), { now: () => now });
    try {
      await r2.upsert(nodeInputSchema.parse({ name: 'en-02', serial: 'e0000002' }));
      const t1 = must(await r2.installTokenFor('en-02'), 'the install token of en-02');
      now = new Date(now.getTime() + 31 * 60_000);
      expect((await r2.enroll('en-02', { token: t1, previous: undefined, ip: '127.0.0.1' })).decision).toMatchObject({ ok: false, why: 'expired' });
      const t2 = must(await r2.installTokenFor('en-02'), 'the renewed install token of en-02');
      expect(t2).not.toBe(t1);
      expect((await r2.enroll('en-02', { token: t2, previous: undefined, ip: '127.0.0.1' })).decision.ok).toBe(true);
      // once used, the token is not renewed by serving it again: a second installer run must be the operator's call
      expect(await r2.installTokenFor('en-02')).toBe(t2);
    } finally {
      await r2.close();
    }
  });

  it('a self-healed node must show the credential from its old disk; reprovision lifts that', async () => {
    await registry.upsert(nodeInputSchema.parse({ name: 'en-03', serial: 'e0000003', selfHeal: true }));
    const old = await enrolled('en-03', '127.0.0.30');
    await registry.record('en-03', 'installed', {});
    expect((await registry.get('en-03'))?.plan).toBe('local');
    await registry.selfHeal('en-03', 'netbooted with plan local');
    const token = must(await registry.installTokenFor('en-03'), 'the install token of en-03');
    const without = await enroll('en-03', token);
    expect(without.status).toBe(403);
    expect(without.json<{ error: string }>().error).toMatch(/credential from its old disk/);
    expect((await enroll('en-03', token, { previous: 'a'.repeat(64) })).status).toBe(403);
    expect(await alerts('en-03')).toEqual(['enrol-needs-previous', 'enrol-needs-previous']);
    expect((await enroll('en-03', token, { previous: old })).status).toBe(201);
    // a disk that is gone: the operator vouches with reprovision, and no proof is asked
    await registry.reprovision('en-03');
    expect((await enroll('en-03', await registry.installTokenFor('en-03'))).status).toBe(201);
  });

  it('in full DHCP mode, enrolment must come from the address kiln leased to the node', async () => {
    await registry.upsert(nodeInputSchema.parse({ name: 'en-04', serial: 'e0000004' }));
    await registry.leased('en-04', '127.0.0.40');
    const token = must(await registry.installTokenFor('en-04'), 'the install token of en-04');
    expect((await enroll('en-04', token, {}, '127.0.0.41')).status).toBe(403);
    expect(await alerts('en-04')).toEqual(['enrol-wrong-address']);
    expect((await enroll('en-04', token, {}, '127.0.0.40')).status).toBe(201);
  });

  it('only a report with the node credential binds its address; the API token reports without moving it', async () => {
    await registry.upsert(nodeInputSchema.parse({ name: 'en-05', serial: 'e0000005' }));
    const c = await enrolled('en-05', '127.0.0.50');
    const post = (token: string, from: string) =>
      http(base, 'POST', '/api/nodes/en-05/events', { body: '{"type":"k3s-started"}', headers: { ...json, authorization: `Bearer ${token}` }, from });
    expect((await post(API, '127.0.0.66')).status).toBe(201);
    expect((await registry.get('en-05'))?.ip).toBe('127.0.0.50');
    expect((await post('b'.repeat(64), '127.0.0.66')).status).toBe(403);
    expect((await registry.get('en-05'))?.ip).toBe('127.0.0.50');
    expect((await post(c, '127.0.0.51')).status).toBe(201);
    expect((await registry.get('en-05'))?.ip).toBe('127.0.0.51');
  });
});

describe('API', () => {
  it('needs the token for every change', async () => {
    const body = JSON.stringify({ name: 'pi-03', mac: 'dc:a6:32:00:00:03' });
    expect((await http(base, 'POST', '/api/nodes', { body, headers: json })).status).toBe(401);
    expect((await http(base, 'POST', '/api/nodes', { body, headers: { ...json, authorization: 'Bearer nope' } })).status).toBe(403);
    const ok = await http(base, 'POST', '/api/nodes', { body, headers: { ...json, ...auth } });
    expect(ok.status).toBe(201);
    expect(ok.json<{ node: { plan: string } }>().node.plan).toBe('install');
    expect((await http(base, 'DELETE', '/api/nodes/pi-03')).status).toBe(401);
    expect((await http(base, 'POST', '/api/nodes/pi-03/reprovision')).status).toBe(401);
    expect((await http(base, 'DELETE', '/api/nodes/pi-03', { headers: auth })).status).toBe(204);
    expect((await http(base, 'GET', '/api/nodes/pi-03', { headers: auth })).status).toBe(404);
  });

  it('refuses invalid, malformed and oversized bodies, naming the field', async () => {
    const bad = await http(base, 'POST', '/api/nodes', { body: JSON.stringify({ name: 'pi-04', mac: 'zz' }), headers: { ...json, ...auth } });
    expect(bad.status).toBe(400);
    expect(bad.json<{ error: string }>().error).toMatch(/^mac:/);
    expect((await http(base, 'POST', '/api/nodes', { body: '{"name":', headers: { ...json, ...auth } })).status).toBe(400);
    const huge = JSON.stringify({ name: 'pi-05', mac: 'dc:a6:32:00:00:05', pad: 'x'.repeat(200_000) });
    expect((await http(base, 'POST', '/api/nodes', { body: huge, headers: { ...json, ...auth } })).status).toBe(413);
    expect((await http(base, 'POST', '/api/nodes/pi-99/reprovision', { headers: auth })).status).toBe(404);
    const conflict = await http(base, 'POST', '/api/nodes', { body: JSON.stringify({ name: 'pi-06', serial: '1234abcd' }), headers: { ...json, ...auth } });
    expect(conflict.status).toBe(409);
    expect((await http(base, 'GET', '/api/events?limit=abc', { headers: auth })).status).toBe(400);
  });

  it("takes node reports only with that node's credential and moves its state", async () => {
    const body = JSON.stringify({ type: 'first-boot' });
    expect((await http(base, 'POST', '/api/nodes/pi-02/events', { body, headers: json })).status).toBe(401);
    const wrong = { authorization: `Bearer ${cred['pi-01']}` };
    expect((await http(base, 'POST', '/api/nodes/pi-02/events', { body, headers: { ...json, ...wrong } })).status).toBe(403);
    const own = { authorization: `Bearer ${cred['pi-02']}` };
    const r = await http(base, 'POST', '/api/nodes/pi-02/events', { body, headers: { ...json, ...own }, from: '127.0.0.3' });
    expect(r.status).toBe(201);
    expect((await registry.get('pi-02'))?.state).toBe('booted');
    expect((await http(base, 'POST', '/api/nodes/pi-02/events', { body: '{"type":"pwned"}', headers: { ...json, ...own } })).status).toBe(400);
    const ev = (await http(base, 'GET', '/api/events?node=pi-02', { headers: auth })).json<{ events: { type: string }[] }>();
    expect(ev.events.map((e) => e.type)).toContain('first-boot');
  });

  it('answers no registry read without the API token', async () => {
    for (const path of [
      '/api/nodes',
      '/api/nodes/pi-01',
      '/api/events',
      '/api/events?node=pi-01',
      '/api/inventory',
      '/inventory',
      '/api/images',
      '/api/builds',
    ]) {
      const r = await http(base, 'GET', path);
      expect(r.status, path).toBe(401);
      expect(r.body.toString(), path).not.toMatch(/1234abcd|127\.0\.0\.2|pi-01/);
      expect((await http(base, 'GET', path, { headers: { authorization: `Bearer ${cred['pi-01']}` } })).status, `${path} with a node credential`).toBe(403);
    }
  });

  it('pages the event log forward with after= and the next cursor', async () => {
    type Page = { events: { id: number }[]; next: number; more: boolean };
    // the newest 30, paged from just before them (earlier tests left thousands of events)
    const all = (await http(base, 'GET', '/api/events?limit=30', { headers: auth })).json<Page>().events.map((e) => e.id);
    expect(all.length).toBe(30);
    const ids: number[] = [];
    let after = must(all[0], 'the oldest of the 30 events') - 1;
    for (let more = true; more; ) {
      const page = (await http(base, 'GET', `/api/events?after=${after}&limit=4`, { headers: auth })).json<Page>();
      ids.push(...page.events.map((e) => e.id));
      ({ next: after, more } = page);
    }
    expect(ids).toEqual(all);
  });

  it('lists images, builds and an Ansible inventory', async () => {
    const images = (await http(base, 'GET', '/api/images', { headers: auth })).json<{ images: { name: string }[] }>();
    expect(images.images.map((i) => i.name)).toEqual(['fixture-image']);
    expect((await http(base, 'GET', '/api/builds', { headers: auth })).status).toBe(200);
    const inv = (await http(base, 'GET', '/api/inventory', { headers: auth })).json<{
      server: { hosts: string[] };
      agent: { hosts: string[] };
      _meta: { hostvars: Record<string, Record<string, unknown>> };
    }>();
    expect(inv.server.hosts).toEqual(['pi-01']);
    expect(inv.agent.hosts).toContain('pi-02');
    expect(inv._meta.hostvars['pi-02']).toMatchObject({ ansible_host: '127.0.0.3', kiln_serial: '0badf00d', k3s_server_url: 'https://127.0.0.2:6443' });
  });

  it('exposes health and Prometheus metrics without serials, addresses or tokens, and refusals are counted', async () => {
    const health = await http(base, 'GET', '/health');
    expect(health.json()).toMatchObject({ ok: true, images: 1 });
    const text = (await http(base, 'GET', '/metrics')).body.toString();
    for (const open of [health.body.toString(), text]) {
      expect(open).not.toMatch(/1234abcd|0badf00d|127\.0\.0\.[235]|pi-0[12]|en-0/);
      for (const secret of [API, K3S, ...Object.values(cred)]) expect(open).not.toContain(secret);
    }
    expect(text).toMatch(/kiln_http_refused_total\{status="403"\} \d+/);
    expect(text).toMatch(/kiln_http_bytes_total\{kind="image"\} \d+/);
    expect(text).toMatch(/kiln_nodes\{state="registered"\} \d/);
    expect(text).toContain('kiln_transfer_duration_seconds_bucket');
  });
});
