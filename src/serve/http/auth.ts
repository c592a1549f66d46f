import type { FastifyRequest } from 'fastify';
import { sameSecret } from '../nodes/enrollment.js';
import { KilnError } from '../../util/errors.js';
import { CSRF_HEADER, csrfMatches, originMatchesHost, parseCookies, SESSION_COOKIE, type Session, type SessionStore } from './session.js';

export class HttpError extends KilnError {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

/** True when the request carries one of the given secrets as a bearer token. */
export function hasToken(req: FastifyRequest, ...secrets: string[]): boolean {
  const t = bearer(req);
  return t !== undefined && secrets.some((s) => sameSecret(t, s));
}

const NO_CREDENTIAL = 'send the API token: Authorization: Bearer <token> (the file api-token in the state dir)';

export function requireToken(req: FastifyRequest, ...secrets: string[]): void {
  if (!bearer(req)) throw new HttpError(401, NO_CREDENTIAL);
  if (!hasToken(req, ...secrets)) throw new HttpError(403, 'token not accepted');
}

/** How the operator proved who they are on this request. */
export type Operator = { via: 'token' } | { via: 'session'; session: Session; cookie: string };

/** The operator check the routes share, and the sessions behind it. */
export interface OperatorAuth {
  sessions: SessionStore;
  operator(req: FastifyRequest): Operator;
}

export function operatorAuth(apiToken: string, sessions: SessionStore): OperatorAuth {
  return { sessions, operator: (req) => requireOperator(req, apiToken, sessions) };
}

/** Methods that change nothing, so need no CSRF proof. */
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** The session cookie's value, if the request carries one. */
export function sessionCookieOf(req: FastifyRequest): string | undefined {
  return parseCookies(req.headers.cookie)[SESSION_COOKIE];
}

/**
 * The operator's routes: the API token as a bearer token (scripts, the CLI's users; never sent by
 * a browser on its own, so no CSRF proof), or the dashboard's session cookie, which a browser does
 * attach by itself, so a change made with it must also carry the session's CSRF token and must not
 * come from another origin. A bearer token decides alone when both come.
 */
export function requireOperator(req: FastifyRequest, apiToken: string, sessions: SessionStore): Operator {
  if (bearer(req)) {
    requireToken(req, apiToken);
    return { via: 'token' };
  }
  const cookie = sessionCookieOf(req);
  if (cookie === undefined) throw new HttpError(401, NO_CREDENTIAL);
  const session = sessions.get(cookie);
  if (!session) throw new HttpError(401, 'the dashboard session has expired or is unknown (kiln serve restarted?): sign in again');
  if (!SAFE_METHODS.has(req.method)) {
    const sent = req.headers[CSRF_HEADER];
    if (sent === undefined) throw new HttpError(403, 'CSRF token missing: send the X-CSRF-Token header that GET /api/session returns');
    if (!csrfMatches(session, sent)) throw new HttpError(403, 'CSRF token wrong: X-CSRF-Token is not the one of this session');
    if (!originMatchesHost(req.headers.origin, req.headers.host)) throw new HttpError(403, 'Origin does not match the host: cross-site request refused');
  }
  return { via: 'session', session, cookie };
}
