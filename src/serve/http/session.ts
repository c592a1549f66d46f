import { createHash, randomBytes } from 'node:crypto';
import { sameSecret } from '../nodes/enrollment.js';

// The dashboard's sign-in: a session made by presenting the API token once, held by the browser
// as an HttpOnly cookie, plus a CSRF token the page sends back as a header on every change (the
// cookie goes along with any request the browser makes, the header only with the page's own).
// Pure: no sockets, the clock comes in. Sessions live in memory, so a restart signs everyone out.

export const SESSION_COOKIE = 'kiln_session';
export const CSRF_HEADER = 'x-csrf-token';
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;
export const DEFAULT_MAX_SESSIONS = 256;

export interface Session {
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export interface SessionOptions {
  /** Lifetime from sign-in (absolute: using a session does not extend it). */
  ttlMs?: number;
  /** At most this many at once; a new one beyond evicts the oldest. */
  max?: number;
  now?: () => number;
}

const TOKEN_RE = /^[0-9a-f]{64}$/;

/** The key a session is held under: the cookie's hash, so the map never holds a usable cookie. */
const keyOf = (token: string): string => createHash('sha256').update(token).digest('hex');

export class SessionStore {
  readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;
  // Insertion order is creation order: the first key is the oldest session.
  private readonly sessions = new Map<string, Session>();

  constructor(opts: SessionOptions = {}) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    this.max = opts.max ?? DEFAULT_MAX_SESSIONS;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** A new session; `token` is the cookie value, shown once. */
  create(): { token: string; session: Session } {
    const now = this.now();
    for (const [k, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(k);
    while (this.sessions.size >= this.max) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const token = randomBytes(32).toString('hex');
    const session = { csrf: randomBytes(32).toString('hex'), createdAt: now, expiresAt: now + this.ttlMs };
    this.sessions.set(keyOf(token), session);
    return { token, session };
  }

  /** The live session the cookie value names; an expired one is forgotten on the way. */
  get(token: string | undefined): Session | undefined {
    if (token === undefined || !TOKEN_RE.test(token)) return undefined;
    const k = keyOf(token);
    const s = this.sessions.get(k);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(k);
      return undefined;
    }
    return s;
  }

  delete(token: string | undefined): boolean {
    return token !== undefined && TOKEN_RE.test(token) && this.sessions.delete(keyOf(token));
  }
}

/** Whether the request's X-CSRF-Token is the session's (constant time). */
export function csrfMatches(s: Session, header: string | string[] | undefined): boolean {
  return typeof header === 'string' && sameSecret(header, s.csrf);
}

/** The cookies of a Cookie header by name (the first of a repeated name wins). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && !(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * The session cookie. HttpOnly: no script reads it, a page's XSS cannot take it away. SameSite=
 * Strict: no other site's page makes the browser send it. No `Secure`: kiln serves plain HTTP on
 * the provisioning LAN, where a Secure cookie would never be sent back (docs/security.md).
 */
export function sessionCookie(token: string, maxAgeMs: number): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`;
}

export function clearedSessionCookie(): string {
  return sessionCookie('', 0);
}

/**
 * Whether a request's Origin (absent: a same-origin navigation or a non-browser client) names the
 * host it was sent to. A browser always sends Origin on a cross-site POST, PATCH or DELETE, so this
 * second check catches a forged change even where SameSite does not (an old browser, a sibling
 * host under the same site).
 */
export function originMatchesHost(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  if (!host) return false;
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host.toLowerCase() === host.toLowerCase();
  } catch {
    // "null" (a sandboxed frame, a redirect across origins) and anything unparsable
    return false;
  }
}
