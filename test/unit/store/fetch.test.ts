import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { BlobStore } from '../../../src/store/blob-store.js';
import { fetchMissing } from '../../../src/store/fetch.js';
import { tempDir } from '../../helpers/tmp.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('fetch', () => {
  it('downloads over a real socket, rejects wrong bytes, and names the way out on failure', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/good') res.end('payload');
      else if (req.url === '/bad') res.end('not the payload');
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const store = new BlobStore(tempDir('fetch'));
      const r = await fetchMissing(store, [{ what: 'good', url: `${base}/good`, sha256: sha('payload'), size: 7 }]);
      expect(r.fetched).toBe(1);
      expect((await fetchMissing(store, [{ what: 'good', url: `${base}/good`, sha256: sha('payload') }])).fetched).toBe(0);
      await expect(fetchMissing(store, [{ what: 'bad', url: `${base}/bad`, sha256: sha('payload2') }])).rejects.toThrow(/hash to/);
      await expect(fetchMissing(store, [{ what: 'k3s-arm64 v1', url: `${base}/missing`, sha256: sha('x') }])).rejects.toThrow(
        /k3s-arm64 v1: .*HTTP 404.*kiln cache add/,
      );
      expect(await store.has(sha('payload2'))).toBe(false);
    } finally {
      server.close();
    }
  });
});
