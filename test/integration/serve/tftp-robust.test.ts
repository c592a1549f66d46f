import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImages } from '../../../src/serve/images.js';
import { ServeLookup } from '../../../src/serve/lookup.js';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { KilnTftpServer } from '../../../src/serve/tftp/server.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { freeUdpPort, sleep } from '../../helpers/net.js';
import { must } from '../../helpers/must.js';
import { TftpClientError, ackPacket, bound, errorPacket, rrq, tftpRead } from './tftp-client.js';
import { tempDir } from '../../helpers/tmp.js';

// What broke the `tftp` package: junk and strangers on a transfer's port, duplicate ACKs, loss,
// windowed clients that ACK every block, and a flood of requests. Real sockets on loopback, kiln's
// server in this process (a crash of the server is a crash of this test), a small raw client.

let work: string;
let boot: string;
let registry: NodeRegistry;
let server: KilnTftpServer;
let busyServer: KilnTftpServer;
let port: number;
let busyPort: number;
const metrics = new ServeMetrics();
const busyMetrics = new ServeMetrics();
const TIMEOUT_MS = 200;
const RETRIES = 5;

const file = (rel: string): Buffer => readFileSync(join(boot, rel));

async function count(c: 'tftpDropped' | 'tftpRequests', label: string, m = metrics): Promise<number> {
  const { values } = await m[c].get();
  return values.filter((v) => Object.values(v.labels).includes(label)).reduce((s, v) => s + v.value, 0);
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

beforeAll(async () => {
  work = tempDir('tftp-robust');
  const images = join(work, 'dist');
  boot = join(makeFixtureImages(images).dir, 'boot');
  registry = await openSqliteRegistry(join(work, 'state', 'kiln.db'));
  await registry.upsert(nodeInputSchema.parse({ name: 'pi-01', serial: '1234abcd', mac: 'dc:a6:32:01:02:03' }));
  const lookup = new ServeLookup(registry, await loadImages(images), 'fixture-image');
  const ctx = { httpBase: 'http://127.0.0.1:8080' };
  port = await freeUdpPort();
  server = new KilnTftpServer({ host: '127.0.0.1', port, lookup, ctx, metrics, timeoutMs: TIMEOUT_MS, retries: RETRIES });
  await server.start();
  busyPort = await freeUdpPort();
  busyServer = new KilnTftpServer({ host: '127.0.0.1', port: busyPort, lookup, ctx, metrics: busyMetrics, maxTransfers: 2, timeoutMs: 2000 });
  await busyServer.start();
});

afterAll(async () => {
  await server?.stop();
  await busyServer?.stop();
  await registry?.close();
});

describe('kiln TFTP under hostile and lossy conditions', () => {
  it('drops 0- and 1-byte datagrams on a transfer port (from the client and from strangers) and keeps serving', async () => {
    const malformed = await count('tftpDropped', 'malformed');
    const foreign = await count('tftpDropped', 'foreign-tid');
    const stranger = await bound();
    const told: Buffer[] = [];
    stranger.on('message', (m) => told.push(m));
    const got = await tftpRead({
      port,
      file: 'bootcode.bin',
      options: [
        ['blksize', '1024'],
        ['tsize', '0'],
      ],
      deadlineMs: 10_000,
      onData: (block, { sock, serverPort }) => {
        if (block !== 1) return;
        for (const junk of [Buffer.alloc(0), Buffer.from([4])]) {
          sock.send(junk, serverPort, '127.0.0.1');
          stranger.send(junk, serverPort, '127.0.0.1');
        }
      },
    });
    expect(got.data.equals(file('bootcode.bin'))).toBe(true);
    await until('drop counters', async () => (await count('tftpDropped', 'foreign-tid')) >= foreign + 2);
    expect(await count('tftpDropped', 'malformed')).toBe(malformed + 2);
    await until('ERROR 5 to the stranger', () => told.length >= 2);
    stranger.close();
    for (const m of told) expect([m.readUInt16BE(0), m.readUInt16BE(2)]).toEqual([5, 5]);
    const again = await tftpRead({ port, file: '1234abcd/start4.elf', deadlineMs: 10_000 });
    expect(again.data.equals(file('start4.elf'))).toBe(true);
  });

  it('answers an ERROR from a foreign port with ERROR 5 and completes the real transfer', async () => {
    const stranger = await bound();
    const told: Buffer[] = [];
    stranger.on('message', (m) => told.push(m));
    const got = await tftpRead({
      port,
      file: '1234abcd/start4.elf',
      options: [['blksize', '1024']],
      deadlineMs: 10_000,
      onData: (block, { serverPort }) => {
        if (block === 3) stranger.send(errorPacket(0, 'not yours to end'), serverPort, '127.0.0.1');
      },
    });
    expect(got.data.equals(file('start4.elf'))).toBe(true);
    await until('the answer to the stranger', () => told.length > 0);
    stranger.close();
    const answer = must(told[0], 'the answer to the stranger');
    expect(answer.readUInt16BE(0)).toBe(5);
    expect(answer.readUInt16BE(2)).toBe(5);
    expect(answer.subarray(4).toString('latin1')).toContain('Unknown transfer ID');
  });

  it("a duplicated ACK does not start a Sorcerer's Apprentice storm", async () => {
    const want = file('vmlinuz');
    const blocks = Math.floor(want.length / 1024) + 1;
    const got = await tftpRead({
      port,
      file: '1234abcd/vmlinuz',
      options: [['blksize', '1024']],
      deadlineMs: 10_000,
      // ACK block 2 an extra time, as a client does when its ACK timer fires just as DATA 3 arrives
      onData: (block, { ack }) => (block === 2 ? ack(2) : undefined),
    });
    expect(got.data.equals(want)).toBe(true);
    expect(got.dataPackets).toBeGreaterThanOrEqual(blocks);
    expect(got.dataPackets).toBeLessThanOrEqual(blocks + 2);
  });

  it('ten clients losing 2 % of DATA and re-ACKing after a timeout all finish with the right bytes', async () => {
    const want = file('start4.elf');
    const blocks = Math.floor(want.length / 1024) + 1;
    const t0 = Date.now();
    const got = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        tftpRead({
          port,
          file: '1234abcd/start4.elf',
          options: [
            ['blksize', '1024'],
            ['tsize', '0'],
          ],
          loss: 0.02,
          seed: 1350 + i,
          retryMs: 300,
          deadlineMs: 30_000,
        }),
      ),
    );
    for (const g of got) expect(g.data.equals(want)).toBe(true);
    // the seeded loss did happen, and was repaired by retransmissions, not by floods
    const packets = got.reduce((s, g) => s + g.dataPackets, 0);
    expect(packets).toBeGreaterThan(10 * blocks + 10);
    expect(packets).toBeLessThan(10 * blocks * 1.2);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('windowsize 16 clients that ACK every block complete, five runs in a row', async () => {
    const want = file('vmlinuz');
    const blocks = Math.floor(want.length / 1024) + 1;
    for (let run = 0; run < 5; run++) {
      const got = await tftpRead({
        port,
        file: '1234abcd/vmlinuz',
        options: [
          ['blksize', '1024'],
          ['windowsize', '16'],
        ],
        ack: 'every',
        deadlineMs: 10_000,
      });
      expect(got.oack?.windowsize).toBe('16');
      expect(got.data.equals(want)).toBe(true);
      expect(got.dataPackets).toBeLessThanOrEqual(blocks + 16);
    }
  });

  it('windowsize 16 clients that ACK once per window recover from 2 % loss', async () => {
    const want = file('start4.elf');
    const got = await Promise.all(
      [1, 2, 3, 4, 5].map((seed) =>
        tftpRead({
          port,
          file: '1234abcd/start4.elf',
          options: [
            ['blksize', '1024'],
            ['windowsize', '16'],
          ],
          ack: 'window',
          loss: 0.02,
          seed,
          retryMs: 300,
          deadlineMs: 30_000,
        }),
      ),
    );
    for (const g of got) expect(g.data.equals(want)).toBe(true);
  });

  it('rolls the block number over past 65535 (blksize 8: 87,501 blocks)', async () => {
    const want = file('initrd.img');
    const got = await tftpRead({
      port,
      file: '1234abcd/initrd.img',
      options: [
        ['blksize', '8'],
        ['windowsize', '16'],
      ],
      ack: 'window',
      deadlineMs: 30_000,
    });
    expect(got.oack?.blksize).toBe('8');
    expect(got.data.equals(want)).toBe(true);
    expect(got.dataPackets).toBe(Math.floor(want.length / 8) + 1);
  });

  it('gives up on a client that stops answering after bounded retransmissions (counted as timeout)', async () => {
    const timeouts = await count('tftpRequests', 'timeout');
    const sock = await bound();
    const data: number[] = [];
    sock.on('message', (m, r) => {
      if (m.readUInt16BE(0) !== 3) return;
      const block = m.readUInt16BE(2);
      data.push(block);
      if (block <= 2) sock.send(ackPacket(block), r.port, '127.0.0.1');
    });
    sock.send(rrq('1234abcd/start4.elf'), port, '127.0.0.1');
    // The counter alone is not enough: an earlier test's lossy transfer may still be retransmitting
    // its last window and time out meanwhile (seen in CI: the wait ended after three retries).
    const retransmitted = (): boolean => data.filter((b) => b === 3).length > RETRIES;
    await until('the timeout', async () => retransmitted() && (await count('tftpRequests', 'timeout')) > timeouts, (RETRIES + 3) * TIMEOUT_MS + 2000);
    await sleep(3 * TIMEOUT_MS);
    sock.close();
    // block 3 once, then once per retry, then silence
    expect(data).toEqual([1, 2, ...Array<number>(RETRIES + 1).fill(3)]);
  });

  it('answers "busy" beyond the concurrent-transfer limit, and serves again once transfers end', async () => {
    const holders = await Promise.all([bound(), bound()]);
    /** Each holder's transfer: the port of kiln's end. */
    const tids = new Map<(typeof holders)[number], number>();
    for (const h of holders) {
      // an OACK that is never acknowledged keeps the transfer open
      h.once('message', (_m, r) => tids.set(h, r.port));
      h.send(rrq('1234abcd/vmlinuz', [['blksize', '1024']]), busyPort, '127.0.0.1');
    }
    await until('two open transfers', () => tids.size === 2);
    const refused = await tftpRead({ port: busyPort, file: '1234abcd/start4.elf', deadlineMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(TftpClientError);
    expect((refused as TftpClientError).code).toBe(0);
    expect((refused as TftpClientError).message).toMatch(/busy/i);
    expect(await count('tftpRequests', 'busy', busyMetrics)).toBe(1);
    for (const [h, tid] of tids) h.send(errorPacket(0, 'probe done'), tid, '127.0.0.1');
    await until('both aborted', async () => (await count('tftpRequests', 'aborted', busyMetrics)) === 2);
    for (const h of holders) h.close();
    const got = await tftpRead({ port: busyPort, file: '1234abcd/start4.elf', deadlineMs: 5000 });
    expect(got.data.equals(file('start4.elf'))).toBe(true);
  });
});
