import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhcpServer } from '../../../src/serve/dhcp/server.js';
import { loadImages, type ImageInfo } from '../../../src/serve/images.js';
import { ServeLookup } from '../../../src/serve/lookup.js';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { KilnTftpServer } from '../../../src/serve/tftp/server.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { freeUdpPort, sleep } from '../../helpers/net.js';
import { tempDir } from '../../helpers/tmp.js';
import { piDiscover } from './pi-dhcp.js';
import { TftpClientError, tftpRead } from './tftp-client.js';
import { run } from '../../../src/util/exec.js';

// The registry is asynchronous: a failing one (here: closed under the servers) rejects instead of
// throwing. Each exchange it fails must be dropped and counted as a synchronous throw was, and the
// servers must keep answering; an unhandled rejection would end this process (and fail the run).

let work: string;
let images: Map<string, ImageInfo>;
let registry: NodeRegistry;
/** A registry whose every call rejects: closed before any server uses it. */
let broken: NodeRegistry;
let boot: string;
let client: Socket;
const servers: { stop(): Promise<void> }[] = [];

async function metric(metrics: ServeMetrics, name: string, label: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getMetricsAsJSON();
  const v = m.find((x) => x.name === name)?.values.find((x) => Object.entries(label).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

async function until(what: string, cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

beforeAll(async () => {
  work = tempDir('registry-failure');
  boot = join(makeFixtureImages(join(work, 'dist')).dir, 'boot');
  images = await loadImages(join(work, 'dist'));
  registry = await openSqliteRegistry(join(work, 'kiln.db'));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd', mac: 'dc:a6:32:01:02:03' }));
  broken = await openSqliteRegistry(join(work, 'broken.db'));
  await broken.close();
  client = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  client?.close();
  await registry?.close();
});

describe('a failing registry', () => {
  it('costs a DHCP exchange, counted as internal, and the server keeps answering', async () => {
    const metrics = new ServeMetrics();
    const port = await freeUdpPort();
    const server = new DhcpServer({
      mode: 'proxy',
      serverIp: '127.0.0.1',
      port,
      clientPort: await freeUdpPort(),
      discovery: true,
      registry: broken,
      lookup: new ServeLookup(broken, images),
      metrics,
    });
    servers.push(server);
    await server.start();
    for (let i = 0; i < 3; i++) client.send(piDiscover({ mac: 'dc:a6:32:01:02:03', serial: '1234abcd' }, 0x100 + i), port, '127.0.0.1');
    await until('three internal drops', async () => (await metric(metrics, 'kiln_dhcp_drops_total', { reason: 'internal' })) === 3);
    // still answering: the next datagram is parsed and counted on its own
    client.send(Buffer.from([1, 2, 3]), port, '127.0.0.1');
    await until('a malformed drop', async () => (await metric(metrics, 'kiln_dhcp_drops_total', { reason: 'malformed' })) === 1);
    expect(await metric(metrics, 'kiln_dhcp_drops_total', { reason: 'internal' })).toBe(3);
  });

  it('answers a TFTP request it fails with an ERROR, counted, and serves the next one', async () => {
    const metrics = new ServeMetrics();
    const port = await freeUdpPort();
    const lookup = new ServeLookup(registry, images);
    let fail = true;
    let served = 0;
    const server = new KilnTftpServer({
      host: '127.0.0.1',
      port,
      // the first lookup rejects, as a locked or closed database does
      lookup: {
        byPrefix: (p) => (fail ? Promise.reject(new Error('database is locked')) : lookup.byPrefix(p)),
        byIp: (ip) => lookup.byIp(ip),
        imageOf: (n) => lookup.imageOf(n),
        defaultImage: () => lookup.defaultImage(),
      },
      ctx: { httpBase: 'http://127.0.0.1:8080' },
      metrics,
      timeoutMs: 200,
      // recording fails too: logged, the transfer goes on
      onSeen: () => Promise.reject(new Error('database is locked')),
      onServed: () => {
        served++;
        return Promise.reject(new Error('database is locked'));
      },
    });
    servers.push(server);
    await server.start();
    const refused = tftpRead({ port, file: '1234abcd/start4.elf', deadlineMs: 5000 });
    await expect(refused).rejects.toThrow(TftpClientError);
    await expect(refused).rejects.toMatchObject({ code: 0, message: expect.stringMatching(/I\/O error/) as string });
    expect(await metric(metrics, 'kiln_tftp_requests_total', { result: 'error' })).toBe(1);
    fail = false;
    // atftp, whose final ACK always reaches the server: the whole transfer, onServed included, runs
    const local = join(work, 'start4.elf');
    await run('atftp', ['-g', '-r', '1234abcd/start4.elf', '-l', local, '127.0.0.1', String(port)], { timeoutMs: 30_000 });
    expect(readFileSync(local).equals(readFileSync(join(boot, 'start4.elf')))).toBe(true);
    await until('the transfer counted', async () => (await metric(metrics, 'kiln_tftp_requests_total', { result: 'ok' })) === 1);
    expect(served).toBe(1);
    expect(await metric(metrics, 'kiln_tftp_requests_total', { result: 'error' })).toBe(1);
  });
});
