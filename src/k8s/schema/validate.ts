import { isObject, type Json, type JsonObject } from '../types.js';

/**
 * The JSON Schema keywords kiln's own small validator understands: `type`, `properties`,
 * `required`, `additionalProperties`, `items`, `enum`, and Kubernetes' `x-kubernetes-int-or-string`.
 * Built-in kinds and Flux are checked by validators generated from the upstream OpenAPI documents
 * and CRDs (see `upstream.ts`); this one is only used for the k3s helm-controller CRDs, for which
 * no generated schema is available here (see `k3s-helm-controller.ts`).
 */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Readonly<Record<string, Schema>>;
  required?: readonly string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  enum?: readonly (string | number | boolean)[];
  'x-kubernetes-int-or-string'?: boolean;
  description?: string;
}

/** The check for one kind: every problem of one object, none when it is valid. */
export type Validator = (obj: JsonObject) => Problem[];

/** Where validators come from; a kind the source does not know gets `undefined`, never a pass. */
export interface SchemaSource {
  readonly name: string;
  validatorFor(apiVersion: string, kind: string): Validator | undefined;
}

/** Several sources as one: the first that knows a kind validates it. */
export function combineSources(name: string, sources: readonly SchemaSource[]): SchemaSource {
  return {
    name,
    validatorFor(apiVersion, kind) {
      for (const s of sources) {
        const v = s.validatorFor(apiVersion, kind);
        if (v) return v;
      }
      return undefined;
    },
  };
}

export interface Problem {
  path: string;
  message: string;
}

export function validate(value: Json, schema: Schema, path = ''): Problem[] {
  const problems: Problem[] = [];
  check(value, schema, path, problems);
  return problems;
}

function check(value: Json, s: Schema, path: string, out: Problem[]): void {
  if (s['x-kubernetes-int-or-string']) {
    if (!(typeof value === 'string' || Number.isInteger(value))) out.push({ path, message: `expected integer or string, got ${describe(value)}` });
    return;
  }
  if (s.enum && !s.enum.includes(value as string | number | boolean)) {
    out.push({ path, message: `must be one of ${s.enum.join(', ')}, got ${JSON.stringify(value)}` });
    return;
  }
  switch (s.type) {
    case undefined:
      return;
    case 'string':
    case 'boolean':
      if (typeof value !== s.type) out.push({ path, message: `expected ${s.type}, got ${describe(value)}` });
      return;
    case 'integer':
      if (!Number.isInteger(value)) out.push({ path, message: `expected integer, got ${describe(value)}` });
      return;
    case 'number':
      if (typeof value !== 'number') out.push({ path, message: `expected number, got ${describe(value)}` });
      return;
    case 'array':
      if (!Array.isArray(value)) {
        out.push({ path, message: `expected list, got ${describe(value)}` });
        return;
      }
      if (s.items) for (const [i, item] of value.entries()) check(item, s.items, `${path}[${i}]`, out);
      return;
    case 'object':
      checkObject(value, s, path, out);
      return;
  }
}

function checkObject(value: Json, s: Schema, path: string, out: Problem[]): void {
  if (!isObject(value)) {
    out.push({ path, message: `expected mapping, got ${describe(value)}` });
    return;
  }
  for (const key of s.required ?? []) {
    if (value[key] === undefined) out.push({ path: join(path, key), message: 'is required' });
  }
  for (const [key, v] of Object.entries(value)) {
    const p = join(path, key);
    const sub = s.properties?.[key];
    if (sub) check(v, sub, p, out);
    else if (s.additionalProperties === false || (s.properties && s.additionalProperties === undefined)) {
      // Kubernetes rejects (strict field validation) or silently drops unknown fields; both hide a typo.
      out.push({ path: p, message: 'unknown field' });
    } else if (typeof s.additionalProperties === 'object') check(v, s.additionalProperties, p, out);
  }
}

export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** A value as messages show it: `string "x"`, `number 3`, `boolean true`, `mapping`, `list`, `null`. */
export function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'mapping' : `${typeof v} ${JSON.stringify(v)}`;
}
