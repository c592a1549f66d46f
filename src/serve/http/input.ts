import type { z } from 'zod';
import { firstIssue } from '../../util/errors.js';
import { HttpError } from './auth.js';

/** A request's body or query through its schema; a refusal names the field (`configTxt.1: …`). */
export function parse<T>(schema: z.ZodType<T>, input: unknown, top = 'body'): T {
  const r = schema.safeParse(input);
  if (!r.success) throw new HttpError(400, firstIssue(r.error, top));
  return r.data;
}
