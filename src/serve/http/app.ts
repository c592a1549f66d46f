import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { log } from '../../util/log.js';
import { RegistryError } from '../nodes/registry.js';
import { isStoreUnreachable } from '../nodes/store/sql.js';
import { registerApiRoutes } from './api.js';
import { HttpError, operatorAuth } from './auth.js';
import type { HttpDeps } from './deps.js';
import { registerImageApiRoutes } from './image-api.js';
import { registerImageRoutes } from './images.js';
import { registerNodeActionRoutes } from './node-actions.js';
import { redactUrl, registerSeedRoutes } from './seed.js';
import { SessionStore } from './session.js';
import { registerSessionRoutes } from './session-routes.js';
import { makeBroadcaster, registerStreamRoute } from './stream.js';
import { DEFAULT_HTTP_TIMEOUTS, timeoutOptions, type HttpTimeouts } from './timeouts.js';
import { registerUiRoutes } from './ui.js';

export const BODY_LIMIT = 64 * 1024;

const REGISTRY_STATUS = { 'not-found': 404, conflict: 409, forbidden: 403 } as const;

function kindOf(url: string): string {
  if (url.startsWith('/images/')) return 'image';
  if (url.startsWith('/seed/')) return 'seed';
  if (url.startsWith('/api/')) return 'api';
  if (url === '/' || url.startsWith('/assets/')) return 'ui';
  return 'other';
}

export async function buildHttp(deps: HttpDeps, opts: { timeouts?: HttpTimeouts } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...timeoutOptions(opts.timeouts ?? DEFAULT_HTTP_TIMEOUTS),
    // The process's one pino logger, typed as fastify's base logger so routes get plain instances.
    loggerInstance: log as FastifyBaseLogger,
    // One log line per refused request (below) instead of two lines for every request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    trustProxy: false,
  });
  await app.register(fastifyStatic, { root: deps.imagesDir, serve: false });

  app.setErrorHandler((err: unknown, req, reply) => {
    let status = 500;
    let message = 'internal error';
    if (err instanceof HttpError) [status, message] = [err.statusCode, err.message];
    else if (err instanceof RegistryError) [status, message] = [REGISTRY_STATUS[err.code], err.message];
    else if (isStoreUnreachable(err)) {
      // Not acknowledged, so the client sends it again (the installer's report, an operator's
      // change). Almost always nothing was written; only a connection lost during COMMIT leaves
      // that unknown, and then a retry records the report twice, never zero times. Not a 500: the
      // agent is fine, its store is not, and /health says so.
      [status, message] = [503, 'the registry store is unreachable: not acknowledged, send it again'];
      reply.header('retry-after', '5');
      deps.storeHealth?.failed(err);
    } else if (err && typeof err === 'object' && 'statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500) {
      // fastify's own refusals (bad JSON, too large, wrong content type) and @fastify/send's
      status = err.statusCode;
      message = err instanceof Error ? err.message : 'bad request';
      // e.g. send's 416 carries `Content-Range: bytes */<size>` (RFC 9110 §15.5.17)
      if ('headers' in err && err.headers && typeof err.headers === 'object') {
        for (const [k, v] of Object.entries(err.headers)) if (typeof v === 'string') reply.header(k, v);
      }
    } else req.log.error({ err }, 'http: handler failed');
    return reply.code(status).send({ error: message });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'no such route' }));

  app.addHook('onResponse', (req, reply, done) => {
    const m = deps.metrics;
    const status = reply.statusCode;
    if (status >= 400) {
      m.httpRefused.inc({ status: String(status) });
      req.log.info({ method: req.method, url: redactUrl(req.url).slice(0, 200), client: req.ip, status }, 'http: refused');
    } else if (req.method === 'GET') {
      const len = Number(reply.getHeader('content-length') ?? 0);
      if (Number.isFinite(len) && len > 0) m.httpBytes.inc({ kind: kindOf(req.url) }, len);
      if (kindOf(req.url) === 'image') m.transferSeconds.observe({ protocol: 'http' }, reply.elapsedTime / 1000);
    }
    done();
  });

  // Open to the LAN, like /metrics: counts only, never a serial, address or token.
  // 200 while this process serves, even with the store unreachable: a restart would not bring the
  // store back, and the agent still answers what needs no store. `store.reachable` says which.
  app.get('/health', async () => {
    const store = deps.storeHealth?.status();
    const nodes = store?.reachable === false ? null : await deps.registry.count().catch(() => null);
    return { ok: true, images: deps.lookup.allImages().length, nodes, ...(store ? { store } : {}) };
  });
  app.get('/metrics', async (_req, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
  registerImageRoutes(app, deps);
  registerSeedRoutes(app, deps);
  // One session store per server: sessions live in memory, so a restart signs everyone out.
  const auth = operatorAuth(deps.apiToken, deps.dashboard?.sessions ?? new SessionStore());
  registerApiRoutes(app, deps, auth);
  registerSessionRoutes(app, deps, auth);
  registerNodeActionRoutes(app, deps, auth);
  registerImageApiRoutes(app, deps, auth);
  registerStreamRoute(app, deps, auth, makeBroadcaster(app, deps, deps.dashboard?.stream));
  await registerUiRoutes(app, deps.uiDir);
  return app;
}
