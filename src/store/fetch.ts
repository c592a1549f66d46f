import { Readable } from 'node:stream';
import { type BlobStore, CacheError } from './blob-store.js';
import { inPool } from '../util/pool.js';

export interface FetchItem {
  /** Human name for errors and progress, e.g. "k3s-arm64 v1.31.4+k3s1" or "libc6 2.41-12". */
  what: string;
  url: string;
  sha256: string;
  size?: number;
}

export class FetchError extends CacheError {
  override name = 'FetchError';
}

/**
 * Fetches items missing from the store, a few at a time. A failure names the item, its URL and the
 * way out for an offline machine (`kiln cache add`).
 */
export async function fetchMissing(
  store: BlobStore,
  items: readonly FetchItem[],
  opts: { concurrency?: number; onFetched?: (item: FetchItem, bytes: number) => void } = {},
): Promise<{ fetched: number; bytes: number }> {
  const missing: FetchItem[] = [];
  for (const it of items) if (!(await store.has(it.sha256))) missing.push(it);
  let bytes = 0;
  await inPool(missing, opts.concurrency ?? 4, async (it) => {
    await fetchOne(store, it);
    bytes += it.size ?? 0;
    opts.onFetched?.(it, it.size ?? 0);
  });
  return { fetched: missing.length, bytes };
}

async function fetchOne(store: BlobStore, it: FetchItem): Promise<void> {
  const wayOut = `download it elsewhere and run: kiln cache add <file>   (it must hash to ${it.sha256})`;
  if (!/^https?:\/\//.test(it.url)) {
    throw new FetchError(`${it.what}: not in the cache and ${it.url} is not an http(s) URL; ${wayOut}`);
  }
  let res: Response;
  try {
    res = await fetch(it.url, { redirect: 'follow', signal: AbortSignal.timeout(15 * 60_000) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new FetchError(`${it.what}: cannot download ${it.url} (${cause}); ${wayOut}`);
  }
  if (!res.ok || !res.body) {
    throw new FetchError(`${it.what}: ${it.url} answered HTTP ${res.status}; ${wayOut}`);
  }
  await store.addStream(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), it.sha256, it.what);
}
