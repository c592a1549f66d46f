import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadTemplates } from '../../src/serve/cloudinit.js';
import { buildHttp } from '../../src/serve/http/app.js';
import type { HttpDeps } from '../../src/serve/http/deps.js';
import { loadImages } from '../../src/serve/images.js';
import { ServeLookup } from '../../src/serve/lookup.js';
import { ServeMetrics } from '../../src/serve/metrics.js';
import type { NodeRegistry } from '../../src/serve/nodes/registry.js';

// kiln serve's HTTP app on a real loopback socket (an ephemeral port), built from a test's registry
// and images dir; the rest of its dependencies get test defaults unless the test names them.

export interface TestHttp {
  app: FastifyInstance;
  /** `http://127.0.0.1:<port>` */
  base: string;
}

export async function listenHttp(
  deps: Pick<HttpDeps, 'registry' | 'imagesDir' | 'apiToken'> & Partial<HttpDeps>,
  opts: Parameters<typeof buildHttp>[1] = {},
): Promise<TestHttp> {
  const app = await buildHttp(
    {
      lookup: new ServeLookup(deps.registry as NodeRegistry, await loadImages(deps.imagesDir)),
      metrics: new ServeMetrics(),
      k3sToken: 'K10fixture',
      templates: await loadTemplates(join(process.cwd(), 'cloud-init')),
      ctx: { httpBase: 'http://127.0.0.1:8080' },
      ...deps,
    },
    opts,
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return { app, base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}
