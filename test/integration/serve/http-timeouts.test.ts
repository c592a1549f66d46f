import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { makeFixtureImages } from '../../helpers/images/serve-images.js';
import { listenHttp } from '../../helpers/http-app.js';
import { tempDir } from '../../helpers/tmp.js';

// The HTTP timeouts on a real socket, shortened so the test takes seconds: a request whose body
// trickles in is closed once the request timeout is over, while a download that takes longer
// than that timeout (its request was complete at once) runs to the end.

const T = { requestMs: 1000, headersMs: 600, keepAliveMs: 500, idleMs: 4000 };
let work: string;
let app: FastifyInstance;
let registry: NodeRegistry;
let port: number;
let image: Buffer;

beforeAll(async () => {
  work = tempDir('http-timeouts');
  // larger than what the socket buffers hold, so the download really is in flight while paused
  const { dir, name } = makeFixtureImages(join(work, 'dist'), { imageSize: 16 << 20 });
  image = readFileSync(join(dir, `${name}.img`));
  registry = await openSqliteRegistry(join(work, 'kiln.db'));
  let base: string;
  ({ app, base } = await listenHttp({ registry, imagesDir: join(work, 'dist'), apiToken: 'a'.repeat(64) }, { timeouts: T }));
  port = Number(new URL(base).port);
}, 60_000);

afterAll(async () => {
  await app?.close();
  await registry?.close();
});

/** Opens a raw connection, writes `head`, then one byte of `drip` every `everyMs`; resolves when the server closes it. */
function trickle(head: string, drip: string, everyMs: number): Promise<{ closedAfterMs: number; answer: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect(port, '127.0.0.1');
    let answer = '';
    let i = 0;
    const timer = setInterval(() => {
      if (drip && !s.destroyed && s.writable) s.write(drip.charAt(i++ % drip.length));
    }, everyMs);
    s.on('data', (c: Buffer) => (answer += c.toString()));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(timer);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
    s.write(head);
    // a safety net far beyond the timeouts: the assertion below then fails instead of hanging
    setTimeout(() => s.destroy(), 15_000).unref();
  });
}

describe('HTTP timeouts', () => {
  it('closes slow-body POSTs once the request timeout is over', async () => {
    const head = 'POST /api/nodes HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{';
    const all = await Promise.all(Array.from({ length: 20 }, () => trickle(head, 'x', 100)));
    for (const r of all) {
      // the body kept arriving (so the idle timeout never fired), yet the connection went at ~1 s
      expect(r.closedAfterMs).toBeGreaterThanOrEqual(T.requestMs - 50);
      expect(r.closedAfterMs).toBeLessThan(T.requestMs + 1000);
      expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
    }
  });

  it('closes a connection whose headers trickle in once the headers timeout is over', async () => {
    const r = await trickle('GET /health HTTP/1.1\r\nHost: kiln\r\n', 'X-Slow: y\r\n', 50);
    expect(r.closedAfterMs).toBeLessThan(T.headersMs + 1000);
  });

  it('lets a download run longer than the request timeout', async () => {
    const started = Date.now();
    const body = await new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/images/fixture-image/fixture-image.img', agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        const chunks: Buffer[] = [];
        res.pause();
        // a slow client: nothing read for 2.5 request timeouts, then the rest
        setTimeout(() => {
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.resume();
        }, 2.5 * T.requestMs);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(Date.now() - started).toBeGreaterThan(2.5 * T.requestMs);
    expect(body.length).toBe(image.length);
    expect(body.equals(image)).toBe(true);
  });

  it('still answers ordinary requests', async () => {
    const r = await trickle('GET /health HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\n\r\n', '', 1000);
    expect(r.answer).toMatch(/^HTTP\/1\.1 200 /);
  });
});
