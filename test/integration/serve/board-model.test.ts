import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../src/util/exec.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { KilnProcess, compileKiln, serveDirs } from '../../helpers/kiln-process.js';
import { must } from '../../helpers/must.js';
import { Segment } from './netns.js';
import { PI_VENDOR_CLASS, piDiscover } from './pi-dhcp.js';

// The board model from option 97, through the running service: crafted Pi 4 and Pi 5 DISCOVERs
// (each FourCC with a real revision code from the Raspberry Pi documentation's "Raspberry Pi
// revision codes" table) broadcast from a namespace on a bridge to `kiln serve --discovery`.
//   kiln ns (kiln serve, proxy mode, 10.79.0.2)   pi ns (the crafted DISCOVERs, no address)

const repo = process.cwd();
const fixtures = join(repo, 'test/fixtures/serve');
const KILN = '10.79.0.2';
/** registered, plan install: a Pi 4 Model B 8GB, rev 1.4 (d03114) */
const PI4 = { name: 'pi4-01', mac: 'dc:a6:32:bd:00:01', serial: 'b0a40001' };
/** registered, plan local: a Pi 5 4GB, rev 1.0 (c04170) */
const PI5 = { name: 'pi5-01', mac: '2c:cf:67:bd:00:02', serial: 'b0a50002' };
/** not registered: a Pi 5 8GB (d04170), recorded as discovered */
const NEW5 = { mac: '2c:cf:67:bd:00:03', serial: 'b0a50003' };
/** not registered: a Pi 4 whose EEPROM never tries the network, heard only from its running system */
const OS4 = { mac: 'dc:a6:32:bd:00:04', serial: 'b0a40004' };
const OS_VENDOR_CLASS = 'dhcpcd-10.1.0:Linux-6.12.47+rpt-rpi-v8:aarch64:BCM2835';

let work: string;
let seg: Segment | undefined;
let piNs: string;
let kiln: KilnProcess | undefined;

interface NodeView {
  name: string;
  plan: string;
  model: string | null;
  boardRevision: string | null;
}

async function broadcast(packets: Buffer[]): Promise<void> {
  await run('ip', ['netns', 'exec', piNs, process.execPath, join(fixtures, 'dhcp-probe.mjs'), '1000', ...packets.map((p) => p.toString('hex'))], {
    timeoutMs: 15_000,
  });
}

const serve = (): KilnProcess => must(kiln, 'kiln serve (started in beforeAll)');

beforeAll(async () => {
  const compiled = await compileKiln();
  work = compiled.work;
  makeFixtureImages(join(work, 'dist'));
  writeFileSync(
    join(work, 'nodes.yaml'),
    [
      'nodes:',
      `  - {name: ${PI4.name}, mac: "${PI4.mac}", serial: "${PI4.serial}", plan: install}`,
      `  - {name: ${PI5.name}, mac: "${PI5.mac}", serial: "${PI5.serial}", plan: local}`,
      '',
    ].join('\n'),
  );
  mkdirSync(join(work, 'state'), { recursive: true });
  // a tag of its own, apart from the other serve tests' namespaces
  seg = new Segment(`b${process.pid % 100000}`);
  await seg.create();
  const kilnNs = await seg.member('ks', '02:00:00:00:02:02', `${KILN}/24`);
  piNs = await seg.member('pi', PI4.mac);
  kiln = new KilnProcess(kilnNs, compiled.entry);
  await kiln.start(['--mode', 'proxy', '--discovery', '--advertise', KILN, ...serveDirs(work)]);
}, 120_000);

afterAll(async () => {
  await kiln?.stop();
  await seg?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the board model from option 97 (kiln serve --discovery, real sockets)', () => {
  it('records the model and revision code of registered nodes and of a discovered Pi, in the API and the timeline', async () => {
    const before = JSON.parse(await serve().get('/api/nodes')) as { nodes: NodeView[] };
    expect(before.nodes.map((n) => [n.name, n.model])).toEqual([
      [PI4.name, null],
      [PI5.name, null],
    ]);

    await broadcast([
      piDiscover(PI4, 0xb0a401, { board: { fourcc: 'RPi4', revision: 0x00d03114 } }),
      piDiscover(PI5, 0xb0a502, { board: { fourcc: 'RPi5', revision: 0x00c04170 } }),
      piDiscover(NEW5, 0xb0a503, { board: { fourcc: 'RPi5', revision: 0x00d04170 } }),
      piDiscover(OS4, 0xb0a404, { vendorClass: OS_VENDOR_CLASS, os: true }),
    ]);

    const after = JSON.parse(await serve().get('/api/nodes')) as { nodes: NodeView[] };
    expect(
      after.nodes.map((n) => [n.name, n.plan, n.model, n.boardRevision]),
      serve().log,
    ).toEqual([
      [`pi-${NEW5.serial}`, 'discovered', 'pi5', '00d04170'],
      [`pi-${OS4.mac.replaceAll(':', '')}`, 'discovered', 'unknown', null],
      [PI4.name, 'install', 'pi4', '00d03114'],
      [PI5.name, 'local', 'pi5', '00c04170'],
    ]);
    const pi4 = JSON.parse(await serve().get(`/api/nodes/${PI4.name}`)) as { events: { type: string; data: Record<string, unknown> }[] };
    expect(pi4.events.find((e) => e.type === 'dhcp-seen')?.data).toMatchObject({ mac: PI4.mac, model: 'pi4' });
    const found = JSON.parse(await serve().get(`/api/nodes/pi-${NEW5.serial}`)) as { events: { type: string; data: Record<string, unknown> }[] };
    expect(found.events.map((e) => [e.type, e.data])).toEqual([
      ['discovered', { mac: NEW5.mac, serial: NEW5.serial, model: 'pi5', vendorClass: PI_VENDOR_CLASS }],
    ]);
    // its bootloader asked: nothing to say
    expect(found).not.toHaveProperty('netboot');
  });

  it('says a Pi heard only from its running system never netbooted, and names the EEPROM setting', async () => {
    const os = JSON.parse(await serve().get(`/api/nodes/pi-${OS4.mac.replaceAll(':', '')}`)) as {
      events: { type: string; data: Record<string, unknown> }[];
      netboot?: string;
    };
    expect(os.events.map((e) => [e.type, e.data])).toEqual([['discovered', { mac: OS4.mac, serial: null, model: 'unknown', vendorClass: OS_VENDOR_CLASS }]]);
    expect(os.netboot).toMatch(/^never netbooted: .*none from its bootloader.*kiln eeprom --board pi4\|pi5/);
  });
});
