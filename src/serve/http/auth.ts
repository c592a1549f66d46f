import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True when the request carries one of the given secrets as a bearer token. */
export function hasToken(req: FastifyRequest, ...secrets: string[]): boolean {
  const t = bearer(req);
  return t !== undefined && secrets.some((s) => sameSecret(t, s));
}

export function requireToken(req: FastifyRequest, ...secrets: string[]): void {
  if (!bearer(req)) throw new HttpError(401, 'this call changes state: send Authorization: Bearer <token>');
  if (!hasToken(req, ...secrets)) throw new HttpError(403, 'token not accepted');
}

/**
 * The installer's token, derived from the node's report token: it may post the node's events but
 * not read its seed. It reaches the installer on the kernel command line, which TFTP serves to
 * whoever asks for the node's path, so it must not be the report token itself.
 */
export function installToken(reportToken: string): string {
  return createHash('sha256').update('kiln-install-token\0').update(reportToken).digest('hex');
}
