import type { FastifyInstance } from 'fastify';
import { renderSeed, SEED_FILES, type SeedFile } from '../cloudinit.js';
import { k3sServerUrl } from '../inventory.js';
import { hasToken, HttpError } from './auth.js';
import type { HttpDeps } from './deps.js';

// Per-node NoCloud seed. It carries the cluster token, so it is answered only to the node itself:
// the request must come from the address the node was last seen at (its TFTP fetches, a lease),
// or carry that node's own report token.

export function registerSeedRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Params: { node: string; file: string } }>('/seed/:node/:file', (req, reply) => {
    const { registry } = deps;
    const file = req.params.file;
    if (file === 'vendor-data') return reply.type('text/plain').send('');
    if (!(SEED_FILES as readonly string[]).includes(file)) throw new HttpError(404, `no seed file ${file}`);
    const node = registry.get(req.params.node);
    if (!node || node.plan === 'discovered') throw new HttpError(404, `no node named ${req.params.node}`);
    const token = registry.reportToken(node.name);
    const fromNode = node.ip !== null && node.ip === req.ip;
    if (!fromNode && !hasToken(req, token)) throw new HttpError(403, `seed of ${node.name} is only served to that node`);
    const provision = registry
      .events({ node: node.name, limit: 1000 })
      .filter((e) => e.type === 'registered' || e.type === 'reprovision')
      .at(-1);
    const serverUrl = k3sServerUrl(registry.list(), deps.k3sServerUrl);
    if (!node.clusterInit && !serverUrl) throw new HttpError(409, 'no k3s server is registered for this node to join');
    const body = renderSeed(file as SeedFile, deps.templates, {
      node,
      provisionId: String(provision?.id ?? 0),
      k3sToken: deps.k3sToken,
      serverUrl,
      eventsUrl: `${deps.ctx.httpBase}/api/nodes/${node.name}/events`,
      reportToken: token,
    });
    if (file === 'user-data') registry.record(node.name, 'seed-fetched', { ip: req.ip });
    return reply.type('text/yaml; charset=utf-8').header('cache-control', 'no-store').send(body);
  });
}
