// Dashboard benchmark on loopback: the bundle's size (gzip, as kiln serves it), and the time from
// navigation to a usable fleet view of 50 nodes in Debian's Chromium (the sign-in done, 50 rows
// drawn), against the tool an operator would otherwise use for the same look: `kiln node list`.
// Each figure is the median of RUNS (default 5). Run as root after `npm test` set-up (needs
// dist-js/ and dist-web/: npm run build):  node bench/dashboard.mjs
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const RUNS = Number(process.env.RUNS ?? 5);
const NODES = 50;
const PORT = 18090;
const base = `http://127.0.0.1:${PORT}`;
const work = mkdtempSync(join(tmpdir(), 'kiln-dash-bench-'));
const env = { ...process.env, KILN_STATE: join(work, 'state'), KILN_LOG_LEVEL: 'warn' };
const kiln = (...args) => execFileSync(process.execPath, ['bin/kiln.js', ...args], { env, encoding: 'utf8' });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

mkdirSync(join(work, 'dist'), { recursive: true });
for (let i = 1; i <= NODES; i++) {
  const hex = i.toString(16).padStart(2, '0');
  kiln('node', 'add', `pi-${String(i).padStart(2, '0')}`, '--serial', `b0b0b0${hex}`, '--mac', `dc:a6:32:00:00:${hex}`);
}

const js = readFileSync('dist-web/assets/app.js');
const css = readFileSync('dist-web/assets/app.css');
const gz = (b) => gzipSync(b, { level: 9 }).length;

const cli = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const out = kiln('node', 'list');
  cli.push(performance.now() - t0);
  if (out.trim().split('\n').length < NODES) throw new Error('kiln node list did not list every node');
}

const server = spawn(
  process.execPath,
  [
    'bin/kiln.js',
    'serve',
    '--no-dhcp',
    '--listen',
    '127.0.0.1',
    '--advertise',
    '127.0.0.1',
    '--http-port',
    String(PORT),
    '--tftp-port',
    '16990',
    '--images-dir',
    join(work, 'dist'),
  ],
  { env, stdio: 'ignore' },
);
let browser;
try {
  for (let i = 0; ; i++) {
    if ((await fetch(`${base}/health`).catch(() => undefined))?.ok) break;
    if (i > 100) throw new Error('kiln serve did not come up');
    await sleep(100);
  }
  const token = readFileSync(join(work, 'state', 'api-token'), 'utf8').trim();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', chromiumSandbox: false });
  const page0 = await (await browser.newContext()).newPage();
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/health`);
    // The session comes first, as a signed-in operator's reload finds it.
    await page.evaluate(
      async (t) => fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: t }) }),
      token,
    );
    const t0 = performance.now();
    await page.goto(`${base}/`);
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-node]').length === n, NODES, { polling: 'raf' });
    runs.push(performance.now() - t0);
    await ctx.close();
  }
  await page0.close();
  const result = {
    nodes: NODES,
    runs: RUNS,
    chromium: browser.version(),
    bundle: { jsBytes: js.length, jsGzipBytes: gz(js), cssBytes: css.length, cssGzipBytes: gz(css) },
    fleetViewMs: Math.round(median(runs)),
    kilnNodeListMs: Math.round(median(cli)),
    ratio: Number((median(runs) / median(cli)).toFixed(2)),
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/dashboard.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `bundle: app.js ${(result.bundle.jsGzipBytes / 1024).toFixed(1)} KiB gzip (${(js.length / 1024).toFixed(1)} KiB), app.css ${(result.bundle.cssGzipBytes / 1024).toFixed(1)} KiB gzip`,
  );
  console.log(`fleet view of ${NODES} nodes: ${result.fleetViewMs} ms (median of ${RUNS}); kiln node list: ${result.kilnNodeListMs} ms; ratio ${result.ratio}`);
} finally {
  await browser?.close();
  server.kill('SIGTERM');
  await sleep(300);
  rmSync(work, { recursive: true, force: true });
}
