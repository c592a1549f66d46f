import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDhcp, type DhcpPacket } from '../../../src/serve/dhcp/codec.js';
import { MSG, OPT } from '../../../src/serve/dhcp/options.js';
import { DhcpServer } from '../../../src/serve/dhcp/server.js';
import { loadImages } from '../../../src/serve/images.js';
import { ServeLookup } from '../../../src/serve/lookup.js';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { freeUdpPort, sleep } from '../../helpers/net.js';
import { tempDir } from '../../helpers/tmp.js';
import { piDiscover } from './pi-dhcp.js';

// A flood of forged DISCOVERs through the real DhcpServer on loopback (its replies to the limited
// broadcast come back on lo): what any host on the LAN can send without a credential. The number
// of event rows it leaves must not grow with the number of packets.

const PI = { mac: 'dc:a6:32:aa:00:01', serial: '1a2b3c4d' };
let work: string;
let registry: NodeRegistry;
let server: DhcpServer;
let client: Socket;
let port: number;
const metrics = new ServeMetrics();
const offers: DhcpPacket[] = [];

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const macOf = (prefix: string, i: number): string => `${prefix}:${hex(i >> 8, 2)}:${hex(i & 0xff, 2)}`;

async function handled(): Promise<number> {
  const m = await metrics.registry.getMetricsAsJSON();
  let n = 0;
  for (const name of ['kiln_boots_total', 'kiln_dhcp_drops_total']) {
    for (const v of m.find((x) => x.name === name)?.values ?? []) n += v.value;
  }
  return n;
}

async function metric(name: string, label: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getMetricsAsJSON();
  const v = m.find((x) => x.name === name)?.values.find((x) => Object.entries(label).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

beforeAll(async () => {
  work = tempDir('flood');
  makeFixtureImages(join(work, 'dist'));
  // a slow discovery rate, so the number of placeholders the flood gets is exactly the burst
  registry = await openSqliteRegistry(join(work, 'kiln.db'), { discovery: { max: 64, burst: 10, perMinute: 1 } });
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-01', mac: PI.mac, serial: PI.serial }));
  const lookup = new ServeLookup(registry, await loadImages(join(work, 'dist')));
  port = await freeUdpPort();
  const clientPort = await freeUdpPort();
  client = createSocket({ type: 'udp4', reuseAddr: true });
  client.on('message', (m) => offers.push(parseDhcp(m)));
  await new Promise<void>((resolve) => client.bind(clientPort, '0.0.0.0', resolve));
  server = new DhcpServer({ mode: 'proxy', serverIp: '127.0.0.1', port, clientPort, discovery: true, registry, lookup, metrics });
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  client?.close();
  await registry?.close();
});

describe('a DISCOVER flood on loopback', () => {
  it('is answered, but leaves a bounded number of event rows and discovered nodes', async () => {
    const packets: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      // the registered Pi's own MAC; its serial from forged MACs (not the node: dropped, counted, never
      // written); unknown Pis with new serials
      packets.push(piDiscover(PI, 0x10000 + i, { minimal: true }));
      packets.push(piDiscover({ mac: macOf('02:00:00:77', i), serial: PI.serial }, 0x20000 + i, { minimal: true }));
      packets.push(piDiscover({ mac: macOf('dc:a6:32:ee', i), serial: `ee${hex(i, 6)}` }, 0x30000 + i, { minimal: true }));
    }
    const start = Date.now();
    for (let i = 0; i < packets.length; i += 50) {
      for (const p of packets.slice(i, i + 50)) client.send(p, port, '127.0.0.1');
      // paced so the kernel's receive buffer never drops one: every packet reaches the server
      for (let t = 0; t < 500 && (await handled()) < Math.min(i + 50, packets.length); t++) await sleep(2);
    }
    expect(await handled()).toBe(3000);
    const seconds = (Date.now() - start) / 1000;

    // registered, one dhcp-seen, one dhcp-offered, and the 10 placeholders the burst allows
    const rows = await registry.events({ limit: 1000 });
    expect(rows, JSON.stringify(rows.slice(0, 20))).toHaveLength(13);
    expect(rows.filter((e) => e.type === 'discovered')).toHaveLength(10);
    expect(await registry.list()).toHaveLength(11);
    expect(await metric('kiln_discovery_refused_total', { reason: 'rate' })).toBe(990);
    expect(await metric('kiln_events_folded_total', { type: 'dhcp-seen' })).toBe(999);
    expect(await metric('kiln_boots_total', { mode: 'proxy' })).toBe(1000);
    expect(await metric('kiln_dhcp_drops_total', { reason: 'mac-mismatch' })).toBe(1000);
    for (let t = 0; t < 200 && offers.length < 1000; t++) await sleep(10);
    await sleep(100);
    expect(offers.filter((o) => o.options.get(OPT.messageType)?.[0] === MSG.OFFER)).toHaveLength(1000);

    // what was folded is written when the window ends (here: at close) and adds up to every DISCOVER
    await registry.close();
    registry = await openSqliteRegistry(join(work, 'kiln.db'));
    const after = await registry.events({ limit: 1000 });
    expect(after).toHaveLength(15);
    const total = (type: string): number => after.filter((e) => e.type === type).reduce((n, e) => n + Number(e.data.count), 0);
    expect(total('dhcp-seen')).toBe(1000);
    expect(total('dhcp-offered')).toBe(1000);
    expect(seconds).toBeLessThan(30);
  });
});
