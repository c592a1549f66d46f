import { describe, expect, it } from 'vitest';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StageCache, type StageRequest } from '../../../src/store/stage-cache.js';
import { sha256, sha256File } from '../../../src/util/hash.js';
import { tempDir } from '../../helpers/tmp.js';

interface Meta {
  n: number;
}

/** A stage cache whose file hashing is counted, and a request that records how often it filled. */
async function setup(): Promise<{
  cache: StageCache;
  hashed: string[];
  request: (inputs: Record<string, unknown>, extra?: Partial<StageRequest<Meta>>) => StageRequest<Meta> & { fills: number; messages: string[] };
}> {
  const root = tempDir('stages');
  const hashed: string[] = [];
  const cache = new StageCache(root, (p) => {
    hashed.push(p);
    return sha256File(p);
  });
  const request = (inputs: Record<string, unknown>, extra: Partial<StageRequest<Meta>> = {}): StageRequest<Meta> & { fills: number; messages: string[] } => {
    const r: StageRequest<Meta> & { fills: number; messages: string[] } = {
      stage: 'thing',
      inputs,
      fills: 0,
      messages: [] as string[],
      parseMeta: (m: unknown) => m as Meta,
      async fill(dir: string): Promise<{ meta: Meta }> {
        r.fills++;
        await writeFile(join(dir, 'out.bin'), `built from ${JSON.stringify(inputs)}`);
        return { meta: { n: r.fills } };
      },
      onMessage: (m: string) => r.messages.push(m),
      ...extra,
    };
    return r;
  };
  return { cache, hashed, request };
}

describe('stage cache', () => {
  it('stores an entry by the hash of its inputs and finds it again without re-reading the outputs', async () => {
    const { cache, hashed, request } = await setup();
    const first = request({ a: 1, list: ['x', 'y'] });
    const e1 = await cache.get(first);
    expect(e1.cached).toBe(false);
    expect(e1.dir).toBe(cache.dirOf('thing', cache.keyOf({ list: ['x', 'y'], a: 1 })));
    expect(JSON.parse(await readFile(join(e1.dir, 'entry.json'), 'utf8')).inputs).toEqual({ a: 1, list: ['x', 'y'] });
    hashed.length = 0;
    const again = request({ a: 1, list: ['x', 'y'] });
    const e2 = await cache.get(again);
    expect(e2.cached).toBe(true);
    expect(e2.meta).toEqual({ n: 1 });
    expect(again.fills).toBe(0);
    expect(hashed).toEqual([]);
    // no temp dirs left behind
    expect((await readdir(join(cache.root, 'thing'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('explains a miss by the inputs that changed since the closest earlier entry', async () => {
    const { cache, request } = await setup();
    await cache.get(request({ a: 1, list: ['x', 'y'], tool: 'v1' }));
    const changed = request({ a: 1, list: ['x', 'z'], tool: 'v2' }, { nouns: { list: 'packages' } });
    await cache.get(changed);
    expect(changed.messages).toEqual(['cache miss: input `list` changed (1 packages differ), `tool` changed (v1 → v2)']);
  });

  it('re-hashes a touched output, keeps it when the bytes are the same and drops it when not', async () => {
    const { cache, hashed, request } = await setup();
    const e = await cache.get(request({ a: 1 }));
    const out = join(e.dir, 'out.bin');
    await utimes(out, new Date(), new Date(2000, 0, 1));
    hashed.length = 0;
    expect((await cache.get(request({ a: 1 }))).cached).toBe(true);
    expect(hashed).toEqual([out]);
    hashed.length = 0;
    expect((await cache.get(request({ a: 1 }))).cached).toBe(true);
    expect(hashed).toEqual([]);

    const content = await readFile(out, 'utf8');
    await writeFile(out, content.replace('built', 'BUILT'));
    const r = request({ a: 1 });
    const rebuilt = await cache.get(r);
    expect(rebuilt.cached).toBe(false);
    expect(r.fills).toBe(1);
    expect(r.messages[0]).toMatch(/was corrupt \(out\.bin: sha256 mismatch\); dropped it/);
    expect(await readFile(out, 'utf8')).toBe(content);
  });

  it('adopts an entry written before entry.json existed when it verifies, and rebuilds it when not', async () => {
    const { cache, request } = await setup();
    const inputs = { a: 2 };
    const dir = cache.dirOf('thing', cache.keyOf(inputs));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'out.bin'), 'old bytes');
    await writeFile(join(dir, 'meta.json'), JSON.stringify({ sha256: sha256('old bytes') }));
    const adopt = async (d: string) => {
      const m = JSON.parse(await readFile(join(d, 'meta.json'), 'utf8')) as { sha256: string };
      return (await sha256File(join(d, 'out.bin'))) === m.sha256 ? { meta: { n: 0 } } : undefined;
    };
    const r = request(inputs, { adopt });
    const e = await cache.get(r);
    expect([e.cached, r.fills, e.meta]).toEqual([true, 0, { n: 0 }]);
    expect(JSON.parse(await readFile(join(dir, 'entry.json'), 'utf8')).files['out.bin'].sha256).toBe(sha256('old bytes'));

    const other = { a: 3 };
    const dir3 = cache.dirOf('thing', cache.keyOf(other));
    await mkdir(dir3, { recursive: true });
    await writeFile(join(dir3, 'out.bin'), 'damaged');
    await writeFile(join(dir3, 'meta.json'), JSON.stringify({ sha256: sha256('old bytes') }));
    const r3 = request(other, { adopt });
    expect((await cache.get(r3)).cached).toBe(false);
    expect(r3.fills).toBe(1);
  });

  it('bypass builds into a throwaway dir and neither looks up nor stores', async () => {
    const { cache, request } = await setup();
    await cache.get(request({ a: 1 }));
    const r = request({ a: 1 }, { bypass: true });
    const e = await cache.get(r);
    expect([e.cached, r.fills]).toEqual([false, 1]);
    expect(e.dir).not.toBe(cache.dirOf('thing', cache.keyOf({ a: 1 })));
    await e.dispose();
    expect((await readdir(join(cache.root, 'thing'))).length).toBe(1);
  });

  it('leaves no entry behind when the stage fails', async () => {
    const { cache, request } = await setup();
    const r = request({ a: 1 }, { fill: () => Promise.reject(new Error('boom')) });
    await expect(cache.get(r)).rejects.toThrow('boom');
    expect(await readdir(join(cache.root, 'thing'))).toEqual([]);
  });
});
