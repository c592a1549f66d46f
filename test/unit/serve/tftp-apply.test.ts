import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { openSqliteRegistry, type NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { tftpRegistryHooks } from '../../../src/serve/tftp/apply.js';
import { tempDir } from '../../helpers/tmp.js';

// The TFTP hooks against a real registry (SQLite in a temp dir).

async function setup(): Promise<{ registry: NodeRegistry; metrics: ServeMetrics }> {
  const d = tempDir('tftp-apply');
  return { registry: await openSqliteRegistry(join(d, 'kiln.db')), metrics: new ServeMetrics() };
}

const add = async (r: NodeRegistry, o: Record<string, unknown> = {}) =>
  await r.upsert(nodeInputSchema.parse({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', ...o }));

describe('tftpRegistryHooks', () => {
  it("a request for a node's files sets its last-seen time, never its address", async () => {
    const { registry, metrics } = await setup();
    const node = await add(registry);
    await tftpRegistryHooks(registry, metrics).onSeen(node, '10.0.0.9');
    expect(await registry.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: expect.any(String) as string });
    await registry.close();
  });

  it('a whole file served is a file-fetched event per path, repeats folded and counted', async () => {
    const { registry, metrics } = await setup();
    const node = await add(registry);
    const hooks = tftpRegistryHooks(registry, metrics);
    await hooks.onServed(node, 'start4.elf', 2048, 0.5);
    await hooks.onServed(node, 'start4.elf', 2048, 0.5);
    await hooks.onServed(node, 'config.txt', 40, 0.01);
    const fetched = (await registry.events({ node: 'pi-01' })).filter((e) => e.type === 'file-fetched').map((e) => e.data);
    expect(fetched).toEqual([
      { path: 'start4.elf', bytes: 2048, seconds: 0.5, count: 1 },
      { path: 'config.txt', bytes: 40, seconds: 0.01, count: 1 },
    ]);
    expect((await metrics.eventsFolded.get()).values).toEqual([{ labels: { type: 'file-fetched' }, value: 1 }]);
    await registry.close();
  });

  it('issues the install token of a node being installed (the same one until it is used or expires), none otherwise', async () => {
    const { registry, metrics } = await setup();
    const hooks = tftpRegistryHooks(registry, metrics);
    const node = await add(registry);
    const token = await hooks.installToken(node);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(await hooks.installToken(node)).toBe(token);
    const local = await add(registry, { name: 'pi-02', mac: 'dc:a6:32:01:02:04', plan: 'local' });
    expect(await hooks.installToken(local)).toBeUndefined();
    await registry.close();
  });
});
