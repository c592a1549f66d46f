import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { NodeEvent, NodeRecord } from '../nodes/model.js';
import type { NodeRegistry } from '../nodes/registry.js';
import type { StreamMessage } from './api-types.js';
import { HttpError, type OperatorAuth } from './auth.js';
import { errorText } from '../../util/errors.js';
import { Broadcaster, type BroadcastOptions, type FeedSource, type Subscription } from './broadcaster.js';
import type { HttpDeps } from './deps.js';
import { parse } from './input.js';
import { progressByNode } from './progress.js';

// GET /api/stream: the registry's events as server-sent events, for the dashboard's live view.
// `id:` is the event id, so a browser that reconnects sends Last-Event-ID and misses nothing.

const streamQuery = z.strictObject({
  after: z.coerce.number().int().min(0).optional(),
});
const lastEventIdSchema = z.coerce.number().int().min(0);

/** Each event as one SSE message: the event, the node as it is now (null once removed), its install progress. */
export function registryFeed(registry: NodeRegistry): FeedSource {
  const watch = registry.watch;
  return {
    ...(watch ? { watch } : {}),
    after: async (afterId, limit) => (await registry.eventPage({ afterId, limit })).events,
    latestId: () => registry.lastEventId(),
    async render(events: readonly NodeEvent[]): Promise<Map<number, string>> {
      const progress = progressByNode(await registry.latestInstallProgress());
      const nodes = new Map<string, NodeRecord | null>();
      const out = new Map<number, string>();
      for (const event of events) {
        let node = nodes.get(event.node);
        if (node === undefined) {
          node = (await registry.get(event.node)) ?? null;
          nodes.set(event.node, node);
        }
        const p = progress[event.node];
        const msg: StreamMessage = { event, node, ...(p ? { progress: p } : {}) };
        out.set(event.id, `id: ${event.id}\nevent: node-event\ndata: ${JSON.stringify(msg)}\n\n`);
      }
      return out;
    },
  };
}

export function makeBroadcaster(app: FastifyInstance, deps: HttpDeps, opts: Partial<BroadcastOptions> = {}): Broadcaster {
  const b = new Broadcaster(registryFeed(deps.registry), opts, app.log);
  // preClose, not onClose: fastify's own onClose waits for the server's connections to end, and a
  // stream never ends by itself.
  app.addHook('preClose', (done) => {
    b.close();
    done();
  });
  app.addHook('onClose', (_app, done) => {
    b.close();
    done();
  });
  return b;
}

export function registerStreamRoute(app: FastifyInstance, deps: HttpDeps, auth: OperatorAuth, broadcaster: Broadcaster): void {
  app.get('/api/stream', async (req, reply) => {
    const who = auth.operator(req);
    const q = parse(streamQuery, req.query, 'query');
    const header = req.headers['last-event-id'];
    const last = typeof header === 'string' && header !== '' ? parse(lastEventIdSchema, header, 'Last-Event-ID') : undefined;
    // A browser resumes with both: the page's `after` and the last id it got; the later one counts.
    const after = q.after === undefined ? last : Math.max(q.after, last ?? 0);
    if (broadcaster.full) {
      deps.metrics.streamsRefused.inc({ reason: 'busy' });
      throw new HttpError(503, `${broadcaster.opts.maxSubscribers} live streams are open already: close a dashboard tab, or poll GET /api/events`);
    }
    // fastify answers HEAD with the GET handler: headers only, no stream to hold open
    if (req.method === 'HEAD') return reply.type('text/event-stream; charset=utf-8').send();
    const alive = who.via === 'session' ? () => auth.sessions.get(who.cookie) !== undefined : undefined;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // nginx and friends buffer responses unless told not to
      'x-accel-buffering': 'no',
    });
    // A write after the client left is not an error worth an unhandled 'error' event.
    raw.on('error', () => undefined);
    // Listened for before subscribing: the client may leave while the stream's start is read.
    let gone = false;
    let sub: Subscription | undefined;
    req.raw.on('close', () => {
      gone = true;
      if (sub) broadcaster.unsubscribe(sub);
    });
    try {
      sub = await broadcaster.subscribe(raw, after, {
        alive,
        onEnd: (reason) => {
          deps.metrics.streams.dec();
          if (reason === 'slow' || reason === 'expired') {
            deps.metrics.streamsRefused.inc({ reason });
            req.log.info({ client: req.ip, reason }, 'live stream ended by kiln');
          }
        },
      });
    } catch (err) {
      // The response is hijacked: nobody else would end it. The browser reconnects.
      req.log.warn({ err: errorText(err) }, 'live stream: could not start');
    }
    if (!sub) {
      raw.end();
      return;
    }
    deps.metrics.streams.inc();
    if (gone) broadcaster.unsubscribe(sub);
  });
}
