import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeResponse, SessionResponse } from '../../../src/serve/http/api-types.js';
import { run } from '../../../src/util/exec.js';
import { baseSpec, buildFixture } from '../../helpers/images/fs-image.js';
import { KilnProcess, compileKiln, serveDirs } from '../../helpers/kiln-process.js';
import { must } from '../../helpers/must.js';
import { Segment } from '../serve/netns.js';
import { piDiscover } from '../serve/pi-dhcp.js';

// The dashboard in a real browser: Debian's Chromium (driven by playwright-core, which downloads
// nothing) against a real `kiln serve` with two small real builds (FAT + ext4, manifest, bmap,
// SHA256SUMS: test/helpers/images/fs-image.ts) that differ in one file, on a throwaway network segment.
//   kiln ns: kiln serve (proxy mode, --discovery) and Chromium, which reaches it on 127.0.0.1:8080
//   pi ns:   crafted Pi DISCOVERs (kiln's own codec), broadcast on the bridge
// Install progress and first boot are posted to the API as the installer and the image would post
// them. Every view is photographed at desktop and phone width into docs/images/, so the pictures in
// docs/dashboard.md are the UI as this test last saw it.

const repo = process.cwd();
const KILN = '10.78.0.2';
const BASE = 'http://127.0.0.1:8080';
const SHOTS = join(repo, 'docs/images');
const NEW_PI = { mac: 'dc:a6:32:bd:07:01', serial: 'b0a70001' };
const SHA = 'a'.repeat(64);

let work: string;
let seg: Segment | undefined;
let piNs: string;
let kiln: KilnProcess | undefined;
let browser: Browser | undefined;
let ui: BrowserContext;
let page: Page;
/** A page of its own, no session, for the bearer-token calls a node or a script would make. */
let script: Page;
const consoleErrors: string[] = [];

const serve = (): KilnProcess => must(kiln, 'kiln serve (started in beforeAll)');

interface Answer {
  status: number;
  body: string;
}

/** fetch() inside the browser, on `p`'s origin: the only way into the namespace from here. */
async function call(p: Page, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  return p.evaluate(
    async ({ method, path, body, headers }) => {
      const r = await fetch(path, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: await r.text() };
    },
    { method, path, body: opts.body, headers: opts.headers ?? {} },
  );
}

function token(): string {
  return must(serve().token, 'the API token');
}

async function asOperator(method: string, path: string, body?: unknown): Promise<Answer> {
  const r = await call(script, method, path, { body, headers: { authorization: `Bearer ${token()}` } });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body}`);
  return r;
}

/** What the installer and the image's first-boot script post, with the API token in their place. */
async function report(node: string, type: string, data: Record<string, unknown> = {}): Promise<void> {
  await asOperator('POST', `/api/nodes/${node}/events`, { type, ...data });
}

async function shoot(name: string): Promise<void> {
  for (const [size, viewport] of [
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(SHOTS, `dashboard-${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

async function broadcast(packets: Buffer[]): Promise<void> {
  const probe = join(repo, 'test/fixtures/serve/dhcp-probe.mjs');
  await run('ip', ['netns', 'exec', piNs, process.execPath, probe, '500', ...packets.map((p) => p.toString('hex'))], { timeoutMs: 15_000 });
}

beforeAll(async () => {
  const compiled = await compileKiln();
  work = compiled.work;
  // The bundle of the web/ under test, where the compiled kiln looks for it (dist-web/ beside js/).
  await run(process.execPath, [join(repo, 'scripts/build-web.mjs'), join(work, 'dist-web')]);
  const spec = baseSpec();
  await buildFixture(join(work, 'dist'), { ...spec, name: 'pi-k3s-2026-11', small: true }, { products: true });
  const motd = { content: 'kiln test build, December\n' };
  await buildFixture(join(work, 'dist'), { ...spec, name: 'pi-k3s-2026-12', small: true, root: { ...spec.root, 'etc/motd': motd } }, { products: true });
  writeFileSync(join(work, 'nodes.yaml'), 'nodes: []\n');
  mkdirSync(join(work, 'state'), { recursive: true });
  mkdirSync(SHOTS, { recursive: true });
  seg = new Segment(`u${process.pid % 100000}`);
  await seg.create();
  const kilnNs = await seg.member('ks', '02:00:00:00:07:02', `${KILN}/24`);
  piNs = await seg.member('pi', NEW_PI.mac);
  kiln = new KilnProcess(kilnNs, compiled.entry);
  await kiln.start(['--mode', 'proxy', '--discovery', '--advertise', KILN, '--default-image', 'pi-k3s-2026-12', ...serveDirs(work)]);

  // Chromium runs in kiln's namespace, through a wrapper playwright starts as if it were the browser.
  const wrapper = join(work, 'chromium-in-ns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${kilnNs}' /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  browser = await chromium.launch({ executablePath: wrapper, chromiumSandbox: false });
  ui = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' });
  page = await ui.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  script = await (await browser.newContext()).newPage();
  await script.goto(`${BASE}/health`);

  // A small fleet in several states, as the registry would hold it after a week.
  const nodes = [
    { name: 'rack1-01', serial: 'b0a70011', mac: 'dc:a6:32:bd:07:11', role: 'server', clusterInit: true },
    { name: 'rack1-03', serial: 'b0a70013', mac: 'dc:a6:32:bd:07:13' },
    { name: 'rack1-04', serial: 'b0a70014', mac: 'dc:a6:32:bd:07:14', image: 'pi-k3s-2026-11' },
    { name: 'rack1-05', serial: 'b0a70015', mac: '2c:cf:67:bd:07:15', disk: 'nvme0n1' },
  ];
  for (const n of nodes) await asOperator('POST', '/api/nodes', n);
  // Each asks for an address once, as a Pi's bootloader does: kiln learns its board and when it was seen.
  const pi5 = { fourcc: 'RPi5', revision: 0x00c04170 };
  await broadcast(nodes.map((n, i) => piDiscover(n, 0x7100 + i, n.mac.startsWith('2c:cf:67') ? { board: pi5 } : {})));
  for (const t of ['install-started', 'installed', 'first-boot', 'k3s-started', 'k3s-joined'])
    await report('rack1-01', t, t === 'installed' ? { sha256: SHA } : {});
  for (const t of ['install-started', 'installed', 'first-boot']) await report('rack1-03', t, t === 'installed' ? { sha256: SHA } : {});
  await report('rack1-04', 'install-started');
  await report('rack1-04', 'install-failed', { message: 'no target disk found' });
  await asOperator('POST', '/api/nodes/rack1-04/park', { reason: 'no disk: check the SD card' });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await kiln?.stop();
  await seg?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the dashboard in Chromium against kiln serve', () => {
  it('shows nothing about nodes without a session: the sign-in form, and 401 from the API', async () => {
    await page.goto(`${BASE}/`);
    await page.locator('#token').waitFor();
    const anon = await call(script, 'GET', '/api/nodes');
    expect(anon.status).toBe(401);
    expect(anon.body).not.toContain('rack1');
    const stream = await call(script, 'GET', '/api/stream');
    expect(stream.status).toBe(401);
    await shoot('signin');
  });

  it('refuses a wrong token, then signs in with the API token into an HttpOnly, SameSite=Strict session', async () => {
    await page.fill('#token', 'not-the-token');
    await page.click('button[type=submit]');
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/token/i);
    // the refused sign-in is the one console error this test expects (Chromium logs the 403)
    expect(consoleErrors.splice(0).every((e) => /403/.test(e))).toBe(true);
    await page.fill('#token', token());
    await page.click('button[type=submit]');
    await page.locator('table.nodes').waitFor();
    const cookie = (await ui.cookies()).find((c) => c.name === 'kiln_session');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('Strict');
    expect(await page.evaluate(() => document.cookie)).not.toContain('kiln_session');
    expect(await page.locator('tr[data-node]').count()).toBe(4);
    await page.locator('.link-live').waitFor();
  });

  it('shows a Pi the moment its DHCP DISCOVER arrives, and approves it into a named node', async () => {
    expect(await page.locator('[data-discovered]').count()).toBe(0);
    await broadcast([piDiscover(NEW_PI, 0x7001)]);
    const card = page.locator('[data-discovered]');
    await card.waitFor({ timeout: 10_000 });
    expect(await card.textContent()).toContain(NEW_PI.serial);
    await card.getByLabel('Name').fill('rack1-02');
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(/#\/nodes\/rack1-02$/);
    await page.getByRole('heading', { name: /rack1-02/ }).waitFor();
    const r = JSON.parse((await asOperator('GET', '/api/nodes/rack1-02')).body) as NodeResponse;
    expect([r.node.serial, r.node.mac, r.node.plan]).toEqual([NEW_PI.serial, NEW_PI.mac, 'install']);
  });

  it('moves the progress bar as the installer reports', async () => {
    await page.goto(`${BASE}/#/`);
    const total = 587_202_560;
    await report('rack1-02', 'install-started', { bytes: 0, total });
    await report('rack1-05', 'install-started', { bytes: 0, total });
    await report('rack1-05', 'install-progress', { progress: 81, bytes: Math.round(total * 0.81), total, bytesPerSecond: 41_000_000 });
    const bar = page.locator('tr[data-node="rack1-02"] [role=progressbar]');
    for (const pct of [30, 70]) {
      await report('rack1-02', 'install-progress', { progress: pct, bytes: Math.round((total * pct) / 100), total, bytesPerSecond: 38_000_000 });
      await page.locator(`tr[data-node="rack1-02"] [role=progressbar][aria-valuenow="${pct}"]`).waitFor({ timeout: 10_000 });
    }
    expect(await bar.textContent()).toContain('70 %');
    await shoot('fleet');
  });

  it('filters the fleet by state, from the keyboard too', async () => {
    // Tab from the page's start to the "installing" filter and press it with the space bar.
    await page.locator('body').focus();
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.textContent?.startsWith('installing') ?? false)) break;
    }
    await page.keyboard.press('Space');
    expect(await page.getByRole('button', { name: /^installing/ }).getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('tr[data-node]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node')))).toEqual(['rack1-02', 'rack1-05']);
    await page.getByRole('button', { name: /^attention/ }).click();
    expect(await page.locator('tr[data-node]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-node')))).toEqual(['rack1-04']);
    await page.getByRole('button', { name: /^all/ }).click();
  });

  it('draws the timeline of the install, phase by phase, as the node reports', async () => {
    await page.click('a[href="#/nodes/rack1-02"]');
    await page.getByRole('heading', { name: /rack1-02/ }).waitFor();
    await report('rack1-02', 'install-progress', { progress: 100, bytes: 587_202_560, total: 587_202_560 });
    await report('rack1-02', 'installed', { sha256: SHA, bytes: 587_202_560, total: 587_202_560 });
    await report('rack1-02', 'first-boot');
    await report('rack1-02', 'k3s-started');
    await page.locator('.timeline .phase', { hasText: 'starting k3s' }).waitFor({ timeout: 10_000 });
    const phases = await page.locator('.timeline .phase-label').allTextContents();
    expect(phases).toEqual(expect.arrayContaining(['writing', 'verifying', 'rebooting from disk', 'starting k3s']));
    expect(await page.locator('table.events tbody tr').count()).toBeGreaterThanOrEqual(7);
    await shoot('node');
  });

  it('refuses a state change with the session cookie but without the right CSRF token', async () => {
    // Same browser context (so the cookie goes along), another page whose refusals are expected.
    const other = await ui.newPage();
    await other.goto(`${BASE}/health`);
    const none = await call(other, 'POST', '/api/nodes/rack1-02/reprovision');
    const wrong = await call(other, 'POST', '/api/nodes/rack1-02/reprovision', { headers: { 'x-csrf-token': 'f'.repeat(64) } });
    expect([none.status, wrong.status]).toEqual([403, 403]);
    expect(none.body + wrong.body).toMatch(/csrf/i);
    const session = JSON.parse((await call(other, 'GET', '/api/session')).body) as SessionResponse;
    expect((await call(other, 'GET', '/api/nodes')).status).toBe(200);
    expect(session.csrf).toMatch(/\S{16,}/);
    await other.close();
    const r = JSON.parse((await asOperator('GET', '/api/nodes/rack1-02')).body) as NodeResponse;
    expect(r.events.some((e) => e.type === 'reprovision')).toBe(false);
  });

  it('reprovisions only after the node name is typed, through the API and its event log', async () => {
    await page.getByRole('button', { name: 'Reprovision…' }).click();
    const go = page.getByRole('button', { name: 'Reprovision rack1-02' });
    expect(await go.isDisabled()).toBe(true);
    await page.fill('#confirm-name', 'rack1-0');
    expect(await go.isDisabled()).toBe(true);
    await page.fill('#confirm-name', 'rack1-02');
    await go.click();
    await page.getByText('Done: reprovision requested.').waitFor();
    await page.locator('table.events tr.ev-reprovision').waitFor({ timeout: 10_000 });
    const r = JSON.parse((await asOperator('GET', '/api/nodes/rack1-02')).body) as NodeResponse;
    expect(r.events.at(-1)?.type).toBe('reprovision');
    await page.getByText(/Nothing reached yet since the last reprovision/).waitFor();
  });

  it('edits per-node settings, naming the field a refusal is about', async () => {
    await page.fill('#set-config', 'dtoverlay=disable-wifi\nkernel=evil.img');
    await page.click('text=Save settings');
    const err = page.locator('.settings [role=alert]');
    await err.waitFor();
    expect(await err.textContent()).toMatch(/configTxt/);
    expect(consoleErrors.splice(0).every((e) => /400/.test(e))).toBe(true);
    await page.fill('#set-config', 'dtoverlay=disable-wifi');
    await page.fill('#set-disk', 'nvme0n1');
    await page.check('input[name=selfHeal]');
    await page.click('text=Save settings');
    await page.getByText('Saved.').waitFor();
    const r = JSON.parse((await asOperator('GET', '/api/nodes/rack1-02')).body) as NodeResponse;
    expect([r.node.configTxt, r.node.disk, r.node.selfHeal]).toEqual([['dtoverlay=disable-wifi'], 'nvme0n1', true]);
  });

  it('unparks a parked node', async () => {
    await page.goto(`${BASE}/#/nodes/rack1-04`);
    await page.getByText(/Parked: no disk/).waitFor();
    await page.getByRole('button', { name: 'Unpark' }).click();
    await page.getByText('Done: unparked.').waitFor();
    const r = JSON.parse((await asOperator('GET', '/api/nodes/rack1-04')).body) as NodeResponse;
    expect(r.node.parked ?? null).toBeNull();
  });

  it('parks a node with a reason, then removes it after its name is typed; the fleet drops it live', async () => {
    await page.goto(`${BASE}/#/nodes/rack1-03`);
    await page.fill('#park-reason', 'moving racks');
    await page.getByRole('button', { name: 'Park', exact: true }).click();
    await page.getByText('Parked: moving racks.').waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Remove…' }).click();
    const go = page.getByRole('button', { name: 'Remove rack1-03' });
    expect(await go.isDisabled()).toBe(true);
    await page.fill('#confirm-name', 'rack1-03');
    await go.click();
    await page.getByText('This node was removed.').waitFor({ timeout: 10_000 });
    await page.click('nav >> text=Fleet');
    await page.locator('tr[data-node="rack1-01"]').waitFor();
    expect(await page.locator('tr[data-node="rack1-03"]').count()).toBe(0);
    expect((await call(script, 'GET', '/api/nodes/rack1-03', { headers: { authorization: `Bearer ${token()}` } })).status).toBe(404);
  });

  it('lists the images, verifies one, and shows kiln diff of two', async () => {
    await page.click('nav >> text=Images');
    await page.locator('tr[data-image]').first().waitFor();
    expect(await page.locator('tr[data-image]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-image')))).toEqual([
      'pi-k3s-2026-11',
      'pi-k3s-2026-12',
    ]);
    const row = page.locator('tr[data-image="pi-k3s-2026-12"]');
    await row.getByRole('button', { name: 'Verify' }).click();
    await row.locator('.verify-ok').waitFor({ timeout: 20_000 });
    await shoot('images');
    await page.click('text=pi-k3s-2026-12');
    await page.locator('summary', { hasText: 'Manifest' }).click();
    expect(await page.locator('pre.json').first().textContent()).toContain('"sha256"');
    await page.goto(`${BASE}/#/images`);
    await page.selectOption('#diff-a', 'pi-k3s-2026-11');
    await page.selectOption('#diff-b', 'pi-k3s-2026-12');
    await page.getByRole('button', { name: 'Compare' }).click();
    const frame = page.frameLocator('iframe');
    await frame.locator('body').waitFor({ timeout: 30_000 });
    expect(await frame.locator('body').textContent()).toMatch(/pi-k3s-2026-11/);
    await shoot('diff');
  });

  it('ran without a single unexpected console error', () => {
    expect(consoleErrors).toEqual([]);
  });
});
