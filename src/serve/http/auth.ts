import type { FastifyRequest } from 'fastify';
import { sameSecret } from '../nodes/enrollment.js';
import { KilnError } from '../../util/errors.js';

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

export function requireToken(req: FastifyRequest, ...secrets: string[]): void {
  if (!bearer(req)) throw new HttpError(401, 'send the API token: Authorization: Bearer <token> (the file api-token in the state dir)');
  if (!hasToken(req, ...secrets)) throw new HttpError(403, 'token not accepted');
}
