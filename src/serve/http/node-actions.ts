import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { hostnameSchema, nodeSettingsSchema, ROLES } from '../nodes/model.js';
import type { ApproveInput, NodeSettingsInput, ParkInput } from './api-types.js';
import { HttpError, type OperatorAuth } from './auth.js';
import type { HttpDeps } from './deps.js';
import { parse } from './input.js';

// What the dashboard changes on one node beyond add/reprovision/remove: its settings, parking and
// approving a discovered Pi. Each is one registry transaction with its event, as the CLI's are.

// Typed against the API's shapes, so a change to one is a type error here.
const settingsBody: z.ZodType<NodeSettingsInput> = nodeSettingsSchema;
const parkBody: z.ZodType<ParkInput> = z.strictObject({ reason: z.string().min(1).max(200).optional() });
const approveBody = z.strictObject({
  name: hostnameSchema,
  role: z.enum(ROLES).optional(),
  image: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'must be an image name from the images dir')
    .optional(),
}) satisfies z.ZodType<ApproveInput>;

export const DEFAULT_PARK_REASON = 'parked by the operator';

export function registerNodeActionRoutes(app: FastifyInstance, deps: HttpDeps, auth: OperatorAuth): void {
  const { registry } = deps;

  app.patch<{ Params: { name: string } }>('/api/nodes/:name', async (req) => {
    auth.operator(req);
    const settings = parse(settingsBody, req.body ?? {});
    return { node: await registry.updateSettings(req.params.name, settings) };
  });

  app.post<{ Params: { name: string } }>('/api/nodes/:name/park', async (req) => {
    auth.operator(req);
    const { reason } = parse(parkBody, req.body ?? {});
    const node = await registry.mustGet(req.params.name);
    // A placeholder is never answered anyway; parking it would only hide it from approval.
    if (node.plan === 'discovered') throw new HttpError(409, `node ${node.name} is only discovered; there is nothing to park`);
    return { node: await registry.park(node.name, reason ?? DEFAULT_PARK_REASON) };
  });

  app.post<{ Params: { name: string } }>('/api/nodes/:name/unpark', async (req) => {
    auth.operator(req);
    parse(z.strictObject({}), req.body ?? {});
    return { node: await registry.unpark(req.params.name) };
  });

  app.post<{ Params: { name: string } }>('/api/nodes/:name/approve', async (req, reply) => {
    auth.operator(req);
    const input = parse(approveBody, req.body);
    if (input.image !== undefined && !deps.lookup.image(input.image)) throw new HttpError(400, `image: no image named ${input.image} in the images dir`);
    const node = await registry.approve(req.params.name, {
      name: input.name,
      role: input.role ?? 'agent',
      image: input.image,
      sshKeys: [],
      clusterInit: false,
    });
    return reply.code(201).send({ node });
  });
}
