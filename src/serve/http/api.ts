import type { FastifyInstance, FastifyRequest } from 'fastify';
import { netbootNote } from '../plan/netboot-note.js';
import { z } from 'zod';
import { buildInventory } from '../inventory.js';
import { nodeInputSchema, nodeReportSchema } from '../nodes/model.js';
import type { NodeResponse, NodesResponse } from './api-types.js';
import { bearer, HttpError, hasToken, type OperatorAuth } from './auth.js';
import type { HttpDeps } from './deps.js';
import { progressByNode } from './progress.js';
import { seedBaseUrl } from './seed.js';
import { parse } from './input.js';

// JSON API. Everything under /api needs a credential: the operator's (the API token, or the
// dashboard's session cookie with its CSRF token: auth.ts) for the registry (reads included: node
// serials, addresses and the timeline are not for the LAN), a node's own credential for its
// reports, and the one-use install token for the one enrolment it is good for.

const enrollBody = z.strictObject({
  /** Self-heal: the credential the installer found on the node's old disk. */
  previous: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be the 64 hex digits of the old credential')
    .optional(),
});

const eventsQuery = z.strictObject({
  node: z.string().max(63).optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export function registerApiRoutes(app: FastifyInstance, deps: HttpDeps, auth: OperatorAuth): void {
  const { registry, lookup } = deps;
  const operator = (req: FastifyRequest): void => void auth.operator(req);

  app.get('/api/nodes', async (req): Promise<NodesResponse> => {
    operator(req);
    // Read first: an event written while the list is read is then replayed by the stream, not lost.
    const lastEventId = await registry.lastEventId();
    return { nodes: await registry.list(), progress: progressByNode(await registry.latestInstallProgress()), lastEventId };
  });

  app.get<{ Params: { name: string } }>('/api/nodes/:name', async (req): Promise<NodeResponse> => {
    operator(req);
    const node = await registry.get(req.params.name);
    if (!node) throw new HttpError(404, `no node named ${req.params.name}`);
    const events = await registry.events({ node: node.name, limit: 100 });
    const netboot = netbootNote(node, events);
    const progress = node.state === 'installing' ? progressByNode(await registry.latestInstallProgress())[node.name] : undefined;
    return { node, events, ...(netboot ? { netboot } : {}), ...(progress ? { progress } : {}) };
  });

  app.post('/api/nodes', async (req, reply) => {
    operator(req);
    const input = parse(nodeInputSchema, req.body);
    const existed = (await registry.get(input.name)) !== undefined;
    const node = await registry.upsert(input);
    return reply.code(existed ? 200 : 201).send({ node });
  });

  app.post<{ Params: { name: string } }>('/api/nodes/:name/reprovision', async (req) => {
    operator(req);
    return { node: await registry.reprovision(req.params.name) };
  });

  app.delete<{ Params: { name: string } }>('/api/nodes/:name', async (req, reply) => {
    operator(req);
    await registry.remove(req.params.name);
    return reply.code(204).send();
  });

  // The installer trades the install token from its kernel command line for the node's credential.
  app.post<{ Params: { name: string } }>('/api/nodes/:name/enroll', async (req, reply) => {
    const body = parse(enrollBody, req.body ?? {});
    const node = await registry.get(req.params.name);
    // The same answer for unknown nodes and wrong tokens: no probing for node names.
    if (!node) throw new HttpError(bearer(req) ? 403 : 401, 'install token not accepted');
    const { decision, credential } = await registry.enroll(node.name, { token: bearer(req), previous: body.previous, ip: req.ip });
    if (!decision.ok) {
      if (decision.alert) {
        deps.metrics.securityAlerts.inc({ kind: `enrol-${decision.why}` });
        req.log.warn({ node: node.name, client: req.ip, why: decision.why }, 'security alert: enrolment refused');
      }
      throw new HttpError(decision.status, decision.message);
    }
    return reply.code(201).send({
      credential,
      seedUrl: seedBaseUrl(deps.ctx.httpBase, node.name, credential ?? ''),
      eventsUrl: `${deps.ctx.httpBase}/api/nodes/${node.name}/events`,
    });
  });

  app.post<{ Params: { name: string } }>('/api/nodes/:name/events', async (req, reply) => {
    const node = await registry.get(req.params.name);
    const token = bearer(req);
    if (!token) throw new HttpError(401, "send the node's credential (or the API token) as a bearer token");
    const byNode = node !== undefined && (await registry.hasCredential(node.name, token));
    if (!node || (!byNode && !hasToken(req, deps.apiToken))) throw new HttpError(403, 'token not accepted');
    const report = parse(nodeReportSchema, req.body);
    // Only the node itself, proven by its credential, moves its address (Ansible's host, the k3s server URL).
    if (byNode) await registry.bindAddress(node.name, req.ip);
    const { type, ...data } = report;
    const event = await registry.record(node.name, type, { ...data, ip: req.ip });
    // The installer reads `parked` to stop retrying once kiln has given up on the node.
    const parked = (await registry.get(node.name))?.parked ?? null;
    return reply.code(201).send({ event, parked: parked !== null, parkedReason: parked });
  });

  app.get('/api/events', async (req) => {
    operator(req);
    const q = parse(eventsQuery, req.query);
    // `next` goes back as `after=` for the following page (or to poll for new events).
    return await registry.eventPage({ node: q.node, afterId: q.after, limit: q.limit });
  });

  app.get('/api/builds', (req) => {
    operator(req);
    return {
      builds: lookup.allImages().map((i) => ({
        name: i.name,
        kilnVersion: i.manifest.kilnVersion,
        sourceDateEpoch: i.manifest.sourceDateEpoch,
        spec: i.manifest.spec,
        lock: i.manifest.lock,
        stages: i.manifest.stages,
        sha256: i.sha256,
      })),
    };
  });

  const inventory = async (req: FastifyRequest): Promise<ReturnType<typeof buildInventory>> => {
    operator(req);
    return buildInventory(await registry.list(), deps.k3sServerUrl);
  };
  app.get('/api/inventory', inventory);
  app.get('/inventory', inventory);
}
