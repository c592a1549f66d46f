import type { FastifyInstance } from 'fastify';
import { renderSeed, SEED_FILES, type SeedFile } from '../cloudinit.js';
import { k3sServerUrl } from '../inventory.js';
import { HttpError } from './auth.js';
import type { HttpDeps } from './deps.js';

// Per-node NoCloud seed. It carries the cluster's join token, so it is served only against the
// node's credential, which the installer wrote onto the node's disk as part of the seed URL
// (cloud-init's NoCloud `seedfrom` can send no header). A node's address proves nothing here:
// anyone on the LAN can take it.

/** The seed URL the installer leaves on the disk; it contains the credential, so it is never logged. */
export function seedBaseUrl(httpBase: string, node: string, credential: string): string {
  return `${httpBase}/seed/${node}/${credential}/`;
}

/** The URL with any seed credential masked, for log lines. */
export function redactUrl(url: string): string {
  return url.replace(/^(\/seed\/[^/]+\/)[^/?]+(?=\/)/, '$1…');
}

export function registerSeedRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const { registry } = deps;

  // Seed URLs from before credentials (or a guess): say what is needed instead of a bare 404.
  app.get<{ Params: { node: string; file: string } }>('/seed/:node/:file', () => {
    throw new HttpError(
      403,
      "the seed is served only with the node's credential (its seed URL as the installer wrote it); reprovision the node to give it one",
    );
  });

  app.get<{ Params: { node: string; credential: string; file: string } }>('/seed/:node/:credential/:file', async (req, reply) => {
    const { file, credential } = req.params;
    const node = await registry.get(req.params.node);
    // One answer for unknown nodes and wrong credentials: the seed does not confirm node names.
    if (!node || node.plan === 'discovered' || !(await registry.hasCredential(node.name, credential))) {
      throw new HttpError(403, 'seed credential not accepted');
    }
    if (file === 'vendor-data') return reply.type('text/plain').send('');
    if (!(SEED_FILES as readonly string[]).includes(file)) throw new HttpError(404, `no seed file ${file}`);
    const serverUrl = k3sServerUrl(await registry.list(), deps.k3sServerUrl);
    if (!node.clusterInit && !serverUrl) throw new HttpError(409, 'no k3s server is registered for this node to join');
    const body = renderSeed(file as SeedFile, deps.templates, {
      node,
      provisionId: String(node.provisionId ?? 0),
      k3sToken: deps.k3sToken,
      serverUrl,
      eventsUrl: `${deps.ctx.httpBase}/api/nodes/${node.name}/events`,
      reportToken: credential,
    });
    if (file === 'user-data') await registry.record(node.name, 'seed-fetched', { ip: req.ip });
    return reply.type('text/yaml; charset=utf-8').header('cache-control', 'no-store').send(body);
  });
}
