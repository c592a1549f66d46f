import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { sameSecret } from '../nodes/enrollment.js';
import type { SessionResponse } from './api-types.js';
import { HttpError, sessionCookieOf, type OperatorAuth } from './auth.js';
import type { HttpDeps } from './deps.js';
import { parse } from './input.js';
import { clearedSessionCookie, originMatchesHost, sessionCookie, type Session } from './session.js';
import { DEFAULT_SIGN_IN_LIMIT, SignInLimiter } from './sign-in-limit.js';

// /api/session: the dashboard signs in with the API token once and works with a cookie after.

const signInBody = z.strictObject({ token: z.string().max(256) });

const answer = (s: Session): SessionResponse => ({ csrf: s.csrf, expiresAt: new Date(s.expiresAt).toISOString() });

/** Nothing here may be kept by a cache: it carries the CSRF token. */
const noStore = (reply: FastifyReply): FastifyReply => reply.header('cache-control', 'no-store');

export function registerSessionRoutes(app: FastifyInstance, deps: HttpDeps, auth: OperatorAuth): void {
  const { sessions } = auth;
  const limitOpts = deps.dashboard?.signInLimit ?? DEFAULT_SIGN_IN_LIMIT;
  const limiter = new SignInLimiter(limitOpts);

  app.post('/api/session', (req, reply) => {
    // A signed-in session planted from another site (login CSRF) would put the operator's actions
    // under the attacker's eyes; the API token is needed anyway, but refuse the attempt outright.
    if (!originMatchesHost(req.headers.origin, req.headers.host)) throw new HttpError(403, 'Origin does not match the host: cross-site sign-in refused');
    const now = Date.now();
    if (!limiter.allowed(req.ip, now)) {
      deps.metrics.signIns.inc({ result: 'limited' });
      return noStore(reply)
        .code(429)
        .header('retry-after', String(Math.ceil(60 / limitOpts.perMinute)))
        .send({ error: 'too many failed sign-ins from this address: wait a minute and try again' });
    }
    const { token } = parse(signInBody, req.body);
    if (!sameSecret(token, deps.apiToken)) {
      limiter.failed(req.ip, now);
      deps.metrics.signIns.inc({ result: 'refused' });
      req.log.warn({ client: req.ip }, 'dashboard: sign-in with a wrong API token');
      throw new HttpError(403, 'token not accepted');
    }
    // A browser signing in again leaves its old session behind: end it rather than let it linger.
    sessions.delete(sessionCookieOf(req));
    const { token: cookie, session } = sessions.create();
    deps.metrics.signIns.inc({ result: 'ok' });
    req.log.info({ client: req.ip, expiresAt: new Date(session.expiresAt).toISOString() }, 'dashboard: signed in');
    return noStore(reply)
      .code(201)
      .header('set-cookie', sessionCookie(cookie, session.expiresAt - session.createdAt))
      .send(answer(session));
  });

  // A reloaded page has the cookie but lost the CSRF token it held in memory: this gives it back.
  // Readable only by the page's own origin (no CORS), like every other answer.
  app.get('/api/session', (req, reply) => {
    const session = sessions.get(sessionCookieOf(req));
    // "No session" is an answer here, not a refusal: the page asks on every load, and a 401 would
    // put a failed request in the browser's console each time.
    if (!session) return noStore(reply).code(204).send();
    return noStore(reply).send(answer(session));
  });

  app.delete('/api/session', (req, reply) => {
    const who = auth.operator(req);
    if (who.via === 'session') {
      sessions.delete(who.cookie);
      req.log.info({ client: req.ip }, 'dashboard: signed out');
    }
    return noStore(reply).code(204).header('set-cookie', clearedSessionCookie()).send();
  });
}
