import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { buildInventory } from '../inventory.js';
import { nodeInputSchema, nodeReportSchema } from '../nodes/model.js';
import { HttpError, hasToken, installToken, requireToken } from './auth.js';
import type { HttpDeps } from './deps.js';

// JSON API. Reads are open on the provisioning network; every change needs the API token, and a
// node may report events about itself with its own report token.

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new HttpError(400, i ? `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}` : 'invalid body');
  }
  return r.data;
}

const eventsQuery = z.strictObject({
  node: z.string().max(63).optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export function registerApiRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const { registry, lookup } = deps;

  app.get('/api/nodes', () => ({ nodes: registry.list() }));

  app.get<{ Params: { name: string } }>('/api/nodes/:name', (req) => {
    const node = registry.get(req.params.name);
    if (!node) throw new HttpError(404, `no node named ${req.params.name}`);
    return { node, events: registry.events({ node: node.name, limit: 100 }) };
  });

  app.post('/api/nodes', (req, reply) => {
    requireToken(req, deps.apiToken);
    const input = parse(nodeInputSchema, req.body);
    const existed = registry.get(input.name) !== undefined;
    const node = registry.upsert(input);
    return reply.code(existed ? 200 : 201).send({ node });
  });

  app.post<{ Params: { name: string } }>('/api/nodes/:name/reprovision', (req) => {
    requireToken(req, deps.apiToken);
    return { node: registry.reprovision(req.params.name) };
  });

  app.delete<{ Params: { name: string } }>('/api/nodes/:name', (req, reply) => {
    requireToken(req, deps.apiToken);
    registry.remove(req.params.name);
    return reply.code(204).send();
  });

  app.post<{ Params: { name: string } }>('/api/nodes/:name/events', (req, reply) => {
    const node = registry.get(req.params.name);
    if (!node) throw new HttpError(404, `no node named ${req.params.name}`);
    const report_ = registry.reportToken(node.name);
    if (!hasToken(req, deps.apiToken, report_, installToken(report_))) {
      throw new HttpError(req.headers.authorization ? 403 : 401, 'send the node report token as a bearer token');
    }
    const report = parse(nodeReportSchema, req.body);
    registry.touch(node.name, req.ip);
    const { type, ...data } = report;
    const event = registry.record(node.name, type, { ...data, ip: req.ip });
    // The installer reads `parked` to stop retrying once kiln has given up on the node.
    const parked = registry.get(node.name)?.parked ?? null;
    return reply.code(201).send({ event, parked: parked !== null, parkedReason: parked });
  });

  app.get('/api/events', (req) => {
    const q = parse(eventsQuery, req.query);
    // `next` goes back as `after=` for the following page (or to poll for new events).
    return registry.eventPage({ node: q.node, afterId: q.after, limit: q.limit });
  });

  app.get('/api/images', () => ({
    images: lookup.allImages().map((i) => ({
      name: i.name,
      sha256: i.sha256,
      size: i.size,
      diskId: i.diskId,
      installer: i.installerDir !== null,
      files: Object.fromEntries(Object.entries(i.files).map(([k, f]) => [k, `/images/${i.name}/${f}`])),
    })),
  }));

  app.get('/api/builds', () => ({
    builds: lookup.allImages().map((i) => ({
      name: i.name,
      kilnVersion: i.manifest.kilnVersion,
      sourceDateEpoch: i.manifest.sourceDateEpoch,
      spec: i.manifest.spec,
      lock: i.manifest.lock,
      stages: i.manifest.stages,
      sha256: i.sha256,
    })),
  }));

  const inventory = () => buildInventory(registry.list(), deps.k3sServerUrl);
  app.get('/api/inventory', inventory);
  app.get('/inventory', inventory);
}
