import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ServeMetrics } from '../../../src/serve/metrics.js';
import { nodeInputSchema } from '../../../src/serve/nodes/model.js';
import { NodeRegistry } from '../../../src/serve/nodes/registry.js';
import { tftpRegistryHooks } from '../../../src/serve/tftp/apply.js';
import { tempDir } from '../../helpers/tmp.js';

// The TFTP hooks against a real registry (SQLite in a temp dir).

function setup(): { registry: NodeRegistry; metrics: ServeMetrics } {
  const d = tempDir('tftp-apply');
  return { registry: new NodeRegistry(join(d, 'kiln.db')), metrics: new ServeMetrics() };
}

const add = (r: NodeRegistry, o: Record<string, unknown> = {}) => r.upsert(nodeInputSchema.parse({ name: 'pi-01', mac: 'dc:a6:32:01:02:03', ...o }));

describe('tftpRegistryHooks', () => {
  it("a request for a node's files sets its last-seen time, never its address", () => {
    const { registry, metrics } = setup();
    const node = add(registry);
    tftpRegistryHooks(registry, metrics).onSeen(node, '10.0.0.9');
    expect(registry.mustGet('pi-01')).toMatchObject({ ip: null, lastSeen: expect.any(String) as string });
    registry.close();
  });

  it('a whole file served is a file-fetched event per path, repeats folded and counted', async () => {
    const { registry, metrics } = setup();
    const node = add(registry);
    const hooks = tftpRegistryHooks(registry, metrics);
    hooks.onServed(node, 'start4.elf', 2048, 0.5);
    hooks.onServed(node, 'start4.elf', 2048, 0.5);
    hooks.onServed(node, 'config.txt', 40, 0.01);
    const fetched = registry
      .events({ node: 'pi-01' })
      .filter((e) => e.type === 'file-fetched')
      .map((e) => e.data);
    expect(fetched).toEqual([
      { path: 'start4.elf', bytes: 2048, seconds: 0.5, count: 1 },
      { path: 'config.txt', bytes: 40, seconds: 0.01, count: 1 },
    ]);
    expect((await metrics.eventsFolded.get()).values).toEqual([{ labels: { type: 'file-fetched' }, value: 1 }]);
    registry.close();
  });

  it('issues the install token of a node being installed (the same one until it is used or expires), none otherwise', () => {
    const { registry, metrics } = setup();
    const hooks = tftpRegistryHooks(registry, metrics);
    const node = add(registry);
    const token = hooks.installToken(node);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(hooks.installToken(node)).toBe(token);
    const local = add(registry, { name: 'pi-02', mac: 'dc:a6:32:01:02:04', plan: 'local' });
    expect(hooks.installToken(local)).toBeUndefined();
    registry.close();
  });
});
