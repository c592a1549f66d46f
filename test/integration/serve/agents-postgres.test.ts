import { execa } from 'execa';
import { join } from 'node:path';
import pgClient from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGE, makeFixtureImages } from '../../helpers/images/serve-images.js';
import { must } from '../../helpers/must.js';
import { freeTcpPort } from '../../helpers/net.js';
import { type EventRow, type Rack, StoreRacks, discover, events, health, node, tftpText, tokenIn } from './store-racks.js';

// Two serving agents on one real PostgreSQL, each on its own segment (store-racks.ts):
//   rack A: kiln ns 10.81.0.2 (kiln serve --agent rackA)   client ns 10.81.0.3 (the Pi)
//   rack B: kiln ns 10.82.0.2 (kiln serve --agent rackB)   client ns 10.82.0.3
// One node, registered once with the real CLI, boots on either; the faults are agents-faults.test.ts.

let fx: StoreRacks | undefined;
const racks = (): StoreRacks => must(fx, 'the racks (started in beforeAll)');
const A = (): Rack => must(racks().racks[0], 'rack A');
const B = (): Rack => must(racks().racks[1], 'rack B');
const pg = () => racks().pg;

beforeAll(async () => {
  fx = await StoreRacks.create(`g${process.pid % 100000}`);
  await fx.startRack('rackA', 81);
  await fx.startRack('rackB', 82);
  await fx.addNode(1);
}, 180_000);

afterAll(async () => {
  await fx?.stop();
});

describe('two agents, one PostgreSQL store', () => {
  it('a node registered once is answered by rack A on segment A and later by rack B on segment B, with the same install token', async () => {
    const offerA = must(await discover(A(), 1, 0x81a001), "rack A's offer", A().kiln.log);
    expect(offerA.serverId).toBe(A().ip);
    const configA = must(await tftpText(A(), `${node(1).serial}/config.txt`), 'config.txt from rack A', A().kiln.log);
    const cmdA = must(await tftpText(A(), `${node(1).serial}/cmdline.txt`), 'cmdline.txt from rack A', A().kiln.log);
    expect(cmdA).toContain(`kiln.events=http://${A().ip}:8080/api/nodes/pi-01/events `);

    const offerB = must(await discover(B(), 1, 0x82b001), "rack B's offer", B().kiln.log);
    expect(offerB.serverId).toBe(B().ip);
    const configB = must(await tftpText(B(), `${node(1).serial}/config.txt`), 'config.txt from rack B', B().kiln.log);
    const cmdB = must(await tftpText(B(), `${node(1).serial}/cmdline.txt`), 'cmdline.txt from rack B', B().kiln.log);
    expect(cmdB).toContain(`kiln.events=http://${B().ip}:8080/api/nodes/pi-01/events `);
    expect(configB).toBe(configA);
    // the token lives in the store: whichever agent serves it first starts its lifetime, the other serves the same one
    expect(tokenIn(cmdA)).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenIn(cmdB)).toBe(tokenIn(cmdA));
  });

  it('the events of both agents are one timeline, in id order, each with its agent, on either agent and in kiln node show', async () => {
    for (const r of [A(), B()]) {
      const ev = await events(r, 'pi-01');
      const ids = ev.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      const seen = ev.filter((e) => e.type === 'dhcp-seen' || e.type === 'dhcp-offered' || e.type === 'file-fetched').map((e) => e.agent);
      // A's activity, then B's: the order it happened in
      expect(seen.indexOf('rackA')).toBeGreaterThanOrEqual(0);
      expect(seen.lastIndexOf('rackA')).toBeLessThan(seen.indexOf('rackB'));
      // registered by the CLI: no agent
      expect(ev.find((e) => e.type === 'registered')?.agent ?? null).toBeNull();
    }
    expect(await events(A(), 'pi-01')).toEqual(await events(B(), 'pi-01'));
    const shown = JSON.parse(await racks().cli(['node', 'show', 'pi-01', '--json'])) as { events: EventRow[] };
    expect(new Set(shown.events.map((e) => e.agent))).toEqual(new Set([null, 'rackA', 'rackB']));
    const text = await racks().cli(['node', 'show', 'pi-01']);
    expect(text).toMatch(/ rackA {2}dhcp-seen /);
    expect(text).toMatch(/ rackB {2}dhcp-seen /);
  });

  it('a third agent serving other bytes under the same image name is refused at start, naming the image and the agent', async () => {
    const other = join(racks().work, 'dist-other');
    makeFixtureImages(other, { withInstaller: true, imageSize: 2 * 1024 * 1024 });
    const state = join(racks().work, 'state-rackC');
    const port = await freeTcpPort();
    const refused = await execa(
      process.execPath,
      [
        racks().entry,
        'serve',
        '--no-dhcp',
        '--no-tftp',
        '--advertise',
        '127.0.0.1',
        '--http-port',
        String(port),
        '--state-dir',
        state,
        '--images-dir',
        other,
        '--store',
        pg().url,
        '--agent',
        'rackC',
      ],
      { reject: false, all: true, timeout: 30_000 },
    );
    expect(refused.exitCode, refused.all).not.toBe(0);
    expect(refused.all).toMatch(
      new RegExp(
        `image ${FIXTURE_IMAGE} here is sha256 [0-9a-f]{16}…, but agent rackA \\(${A().ip.replaceAll('.', '\\.')}\\) serves [0-9a-f]{16}… under the same name`,
      ),
    );
    // and it left no trace: not in the agent list, both racks still serve
    const db = new pgClient.Client({ connectionString: pg().url });
    await db.connect();
    const agents = (await db.query<{ name: string; network: string }>('SELECT name, network FROM agents ORDER BY name').finally(() => db.end())).rows;
    expect(agents).toEqual([
      { name: 'rackA', network: A().ip },
      { name: 'rackB', network: B().ip },
    ]);
    for (const rack of [A(), B()]) expect((await health(rack)).store.reachable).toBe(true);
  });
});
