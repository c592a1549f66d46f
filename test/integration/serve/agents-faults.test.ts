import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KilnProcess } from '../../helpers/kiln-process.js';
import { must } from '../../helpers/must.js';
import { sleep } from '../../helpers/net.js';
import { metricValue } from './prom.js';
import {
  type HttpReply,
  type Rack,
  StoreRacks,
  discover,
  events,
  health,
  http,
  netbootAndEnroll,
  node,
  report,
  tftpText,
  tokenIn,
  until,
} from './store-racks.js';

// Faults of agents sharing one PostgreSQL store (store-racks.ts: rack A on 10.85.0.2, rack B on
// 10.86.0.2, each on its own segment): an agent killed mid-install, and PostgreSQL restarted and
// killed while an installer reports. The installer is simulated as the self-heal and e2e tests
// do: its HTTP calls (enrol with the install token, report with the credential) from the Pi's
// side of the segment.

let fx: StoreRacks | undefined;
const racks = (): StoreRacks => must(fx, 'the racks (started in beforeAll)');
const A = (): Rack => must(racks().racks[0], 'rack A');
const B = (): Rack => must(racks().racks[1], 'rack B');

beforeAll(async () => {
  fx = await StoreRacks.create(`f${process.pid % 100000}`);
  await fx.startRack('rackA', 85);
  await fx.startRack('rackB', 86);
  for (const i of [2, 3]) await fx.addNode(i);
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

/** Reports until kiln acknowledges it (2xx), as an installer that retries would; the statuses it got on the way. */
async function reportUntilAcked(
  r: Rack,
  i: number,
  credential: string,
  body: Record<string, unknown>,
  timeoutMs = 20_000,
): Promise<{ reply: HttpReply; refused: number[] }> {
  const refused: number[] = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const reply = await report(r, i, credential, body);
    if (reply.status >= 200 && reply.status < 300) return { reply, refused };
    // refused (503, the store down) or unanswered (0): nothing was recorded, send it again
    expect([0, 503], reply.text).toContain(reply.status);
    refused.push(reply.status);
    if (Date.now() > end) throw new Error(`report ${JSON.stringify(body)} never acknowledged: ${refused.join(' ')}`);
    await sleep(150);
  }
}

async function nodeState(r: Rack, name: string): Promise<{ state: string; plan: string }> {
  const v = await http(r, 'GET', `/api/nodes/${name}`, { token: r.kiln.token });
  expect(v.status, v.text).toBe(200);
  return v.json().node as { state: string; plan: string };
}

/** The process-level last net never fired: no rejection or exception escaped a handler. */
async function noEscapes(r: Rack): Promise<void> {
  expect(r.kiln.exitStatus, r.kiln.log).toBeUndefined();
  expect(metricValue(await r.kiln.get('/metrics'), 'kiln_internal_errors_total')).toBe(0);
  expect(r.kiln.log).not.toMatch(/unhandledRejection|uncaughtException|unhandled rejection/i);
}

describe('an agent killed mid-install', () => {
  it("a standby agent that takes over the dead agent's address completes the install the dead one started", async () => {
    const a = A();
    const { credential } = await netbootAndEnroll(a, 2, 0x85a002);
    const started = await report(a, 2, credential, { type: 'install-started', message: 'writing', total: 1000 });
    expect(started.status, started.text).toBe(201);
    const progress = await report(a, 2, credential, { type: 'install-progress', bytes: 300, total: 1000 });
    expect(progress.status, progress.text).toBe(201);

    a.kiln.signal('SIGKILL');
    expect(await a.kiln.ended()).toEqual({ exitCode: undefined, signal: 'SIGKILL' });
    // the installer's URLs name that address: nothing answers there now
    expect((await report(a, 2, credential, { type: 'install-progress', bytes: 600, total: 1000 })).status).toBe(0);

    // Another agent does not rescue it: the Pi's netboot there (rack B's segment) is answered, but
    // the token served is the one already used, and its enrolment is refused until the operator
    // reprovisions. What continues the install is an agent on the address its command line names.
    expect((await discover(B(), 2, 0x86b001))?.serverId).toBe(B().ip);
    const cmdB = must(await tftpText(B(), `${node(2).serial}/cmdline.txt`), "pi-02's cmdline.txt from rack B", B().kiln.log);
    const again = await http(B(), 'POST', '/api/nodes/pi-02/enroll', { token: tokenIn(cmdB), body: {} });
    expect(again.status, again.text).toBe(409);
    expect(again.json().error).toMatch(/install token was already used/);

    // The standby: its own name and state dir, the same images and store, on the same address.
    const standby = new KilnProcess(a.kilnNs, racks().entry);
    a.kiln = standby;
    await standby.start(racks().serveArgs({ ip: a.ip, state: join(racks().work, 'state-standby'), name: 'rackA-standby' }));
    const retried = await reportUntilAcked(a, 2, credential, { type: 'install-progress', bytes: 600, total: 1000 });
    expect(retried.reply.status).toBe(201);
    const installed = await reportUntilAcked(a, 2, credential, { type: 'installed', message: 'written and verified', bytes: 1000, total: 1000 });
    expect(installed.reply.status).toBe(201);

    // the node is as after a real install: installed, and its plan local (no reinstall at the next netboot)
    expect(await nodeState(B(), 'pi-02')).toMatchObject({ state: 'installed', plan: 'local' });
    const timeline = (await events(B(), 'pi-02')).filter((e) => e.type.startsWith('install')).map((e) => [e.type, e.agent, e.data.bytes ?? null]);
    expect(timeline).toEqual([
      ['install-started', 'rackA', null],
      ['install-progress', 'rackA', 300],
      ['install-progress', 'rackA-standby', 600],
      ['installed', 'rackA-standby', 1000],
    ]);
    // booted into its disk, it is not answered by any agent: rack B on its segment stays silent
    expect(await discover(B(), 2, 0x86b002)).toBeUndefined();
    await noEscapes(B());
  });
});

describe('PostgreSQL down while an installer reports', () => {
  let credential = '';

  it('killed: agents stay up and say the store is unreachable; a report is refused with 503 and acknowledged once it is back', async () => {
    const b = B();
    ({ credential } = await netbootAndEnroll(b, 3, 0x86b003));
    const started = await report(b, 3, credential, { type: 'install-started', total: 100 });
    expect(started.status).toBe(201);
    const startedId = Number((started.json().event as { id: number }).id);
    const pidB = b.kiln.pid;

    await racks().pg.kill();
    const refused = await report(b, 3, credential, { type: 'install-progress', bytes: 10, total: 100 });
    expect(refused.status, refused.text).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.json().error).toMatch(/registry store is unreachable: not acknowledged, send it again/);
    // the failed request marked the store down at once (not at the next heartbeat)
    expect((await health(b)).store).toMatchObject({ kind: 'postgres', reachable: false });
    expect(metricValue(await b.kiln.get('/metrics'), 'kiln_store_up', { store: 'postgres' })).toBe(0);
    // any request that needs the store costs that exchange only: a DISCOVER, a TFTP read, an operator read
    expect(await discover(b, 3, 0x86b004)).toBeUndefined();
    expect(await tftpText(b, `${node(3).serial}/cmdline.txt`)).toBeUndefined();
    expect((await http(A(), 'GET', '/api/nodes', { token: A().kiln.token })).status).toBe(503);
    expect((await health(A())).store.reachable).toBe(false);
    const m = await b.kiln.get('/metrics');
    expect(metricValue(m, 'kiln_dhcp_drops_total', { reason: 'store-unreachable' })).toBeGreaterThan(0);
    expect(metricValue(m, 'kiln_tftp_requests_total', { result: 'store-unreachable' })).toBeGreaterThan(0);
    expect(metricValue(m, 'kiln_http_refused_total', { status: '503' })).toBeGreaterThan(0);

    await racks().pg.start();
    for (const r of [A(), B()])
      await until(
        `${r.name} sees the store again`,
        () => health(r),
        (h) => h.store.reachable,
      );
    expect(metricValue(await b.kiln.get('/metrics'), 'kiln_store_up', { store: 'postgres' })).toBe(1);
    // the installer sends what was refused again
    const again = await reportUntilAcked(b, 3, credential, { type: 'install-progress', bytes: 10, total: 100 });
    expect(again.reply.status).toBe(201);
    expect(b.kiln.pid).toBe(pidB);
    // what was acknowledged before the crash survived it (crash recovery), and the refused report is there once
    const after = (await events(b, 'pi-03')).filter((e) => e.type.startsWith('install'));
    expect(after.map((e) => [e.id, e.type, e.data.bytes ?? null])).toEqual([
      [startedId, 'install-started', null],
      [Number((again.reply.json().event as { id: number }).id), 'install-progress', 10],
    ]);
    for (const r of [A(), B()]) await noEscapes(r);
  });

  it('restarted during a stream of reports: every acknowledged report is there afterwards, and the install completes', async () => {
    const b = B();
    expect(credential, 'needs the previous test').not.toBe('');
    const acked = new Map<number, number>();
    let refusals = 0;
    let restarted = false;
    const restart = (async () => {
      await sleep(400);
      await racks().pg.restart();
      restarted = true;
    })();
    for (let k = 11; !restarted || k <= 30; k++) {
      const r = await reportUntilAcked(b, 3, credential, { type: 'install-progress', bytes: k, total: 100 });
      refusals += r.refused.length;
      acked.set(k, Number((r.reply.json().event as { id: number }).id));
      await sleep(50);
    }
    await restart;
    // the restart happened while reports were being made: some were refused, none lost
    expect(refusals).toBeGreaterThan(0);
    const stored = new Map((await events(b, 'pi-03')).map((e) => [e.id, e]));
    for (const [bytes, id] of acked)
      expect(stored.get(id), `acknowledged report ${bytes} (event ${id})`).toMatchObject({
        type: 'install-progress',
        agent: 'rackB',
        data: expect.objectContaining({ bytes }),
      });

    const installed = await reportUntilAcked(b, 3, credential, { type: 'installed', bytes: 100, total: 100 });
    expect(installed.reply.status).toBe(201);
    expect(await nodeState(A(), 'pi-03')).toMatchObject({ state: 'installed', plan: 'local' });
    // /health learns it from its own probe (every second while the store is down), not from the
    // report that just succeeded: give a loaded host a few probes
    for (let t = 0; t < 10_000 && !(await health(b)).store.reachable; t += 250) await sleep(250);
    expect((await health(b)).store.reachable).toBe(true);
    for (const r of [A(), B()]) await noEscapes(r);
  });
});
