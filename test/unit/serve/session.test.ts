import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../src/serve/nodes/activity.js';
import { clearedSessionCookie, csrfMatches, originMatchesHost, parseCookies, sessionCookie, SessionStore } from '../../../src/serve/http/session.js';
import { SignInLimiter } from '../../../src/serve/http/sign-in-limit.js';

describe('dashboard sessions', () => {
  it('a session lives ttl from sign-in, however much it is used, and is forgotten once expired', () => {
    let now = 1_000_000;
    const store = new SessionStore({ ttlMs: 60_000, now: () => now });
    const { token, session } = store.create();
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(session.csrf).toMatch(/^[0-9a-f]{64}$/);
    expect(session.csrf).not.toBe(token);
    expect(session.expiresAt).toBe(now + 60_000);
    now += 59_999;
    expect(store.get(token)).toBe(session);
    now += 1;
    expect(store.get(token)).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('knows only its own tokens: unknown, malformed or absent cookies name no session', () => {
    const store = new SessionStore();
    const { token } = store.create();
    for (const t of [undefined, '', 'f'.repeat(64), token.toUpperCase(), `${token} `, token.slice(1)]) expect(store.get(t), String(t)).toBeUndefined();
    expect(store.delete('f'.repeat(64))).toBe(false);
    expect(store.delete(token)).toBe(true);
    expect(store.get(token)).toBeUndefined();
  });

  it('holds at most max sessions: a new one evicts the oldest; expired ones go first', () => {
    let now = 0;
    const store = new SessionStore({ max: 3, ttlMs: 1000, now: () => now });
    const tokens = [store.create().token, store.create().token, store.create().token];
    const fourth = store.create().token;
    expect(store.size).toBe(3);
    expect(store.get(tokens[0])).toBeUndefined();
    expect(store.get(tokens[1])).toBeDefined();
    expect(store.get(fourth)).toBeDefined();
    now = 2000;
    const fresh = store.create().token;
    expect(store.size).toBe(1);
    expect(store.get(fresh)).toBeDefined();
  });

  it('compares the CSRF token exactly (and only a single header value)', () => {
    const { session } = new SessionStore().create();
    expect(csrfMatches(session, session.csrf)).toBe(true);
    for (const h of [undefined, '', session.csrf.slice(0, -1), `${session.csrf}0`, session.csrf.toUpperCase(), [session.csrf]]) {
      expect(csrfMatches(session, h), String(h)).toBe(false);
    }
  });

  it('reads cookies and writes the session cookie HttpOnly, SameSite=Strict, for the whole site', () => {
    expect(parseCookies('a=1; kiln_session=abc ; b=x=y')).toEqual({ a: '1', kiln_session: 'abc', b: 'x=y' });
    expect(parseCookies('kiln_session=first; kiln_session=second').kiln_session).toBe('first');
    expect(parseCookies(undefined)).toEqual({});
    expect(parseCookies('garbage')).toEqual({});
    expect(sessionCookie('t0k', 43_200_000)).toBe('kiln_session=t0k; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200');
    expect(clearedSessionCookie()).toBe('kiln_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
  });

  it('takes an absent Origin, and an Origin only when it names the host the request went to', () => {
    expect(originMatchesHost(undefined, '10.0.0.1:8080')).toBe(true);
    expect(originMatchesHost('http://10.0.0.1:8080', '10.0.0.1:8080')).toBe(true);
    expect(originMatchesHost('http://KILN.lan:8080', 'kiln.lan:8080')).toBe(true);
    for (const origin of ['http://10.0.0.1:8081', 'http://evil.example', 'null', 'file://', 'not a url', 'http://10.0.0.1']) {
      expect(originMatchesHost(origin, '10.0.0.1:8080'), origin).toBe(false);
    }
    expect(originMatchesHost('http://10.0.0.1:8080', undefined)).toBe(false);
  });
});

describe('failed sign-ins per address', () => {
  it('lets an address fail burst times, then refuses it until the bucket refills; other addresses are not affected', () => {
    const l = new SignInLimiter({ burst: 3, perMinute: 6 });
    let now = 0;
    for (let i = 0; i < 3; i++) {
      expect(l.allowed('10.0.0.5', now)).toBe(true);
      l.failed('10.0.0.5', now);
    }
    expect(l.allowed('10.0.0.5', now)).toBe(false);
    expect(l.allowed('10.0.0.6', now)).toBe(true);
    now += 9_999;
    expect(l.allowed('10.0.0.5', now)).toBe(false);
    now += 1;
    expect(l.allowed('10.0.0.5', now)).toBe(true);
  });

  it('remembers a bounded number of addresses', () => {
    const l = new SignInLimiter({ burst: 1, perMinute: 1, maxClients: 2 });
    l.failed('a', 0);
    l.failed('b', 0);
    l.failed('c', 0);
    // a was forgotten (so may try again); b and c are still limited
    expect(['a', 'b', 'c'].map((ip) => l.allowed(ip, 0))).toEqual([true, false, false]);
  });

  it('TokenBucket.has looks without taking', () => {
    const b = new TokenBucket(1, 1, 0);
    expect(b.has(0)).toBe(true);
    expect(b.has(0)).toBe(true);
    expect(b.take(0)).toBe(true);
    expect(b.has(0)).toBe(false);
    expect(b.has(60_000)).toBe(true);
  });
});
