import { isObject, type Json } from '../types.js';

/**
 * The JSON Schema keywords the Kubernetes OpenAPI (v3, as published per release) uses for
 * built-in types, minus references: `type`, `properties`, `required`, `additionalProperties`,
 * `items`, `enum`, and Kubernetes' `x-kubernetes-int-or-string`. A schema set produced from the
 * real OpenAPI documents (dereferenced) could be dropped in behind `SchemaSource` unchanged.
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

/** Where schemas come from: the vendored subset now, real generated schemas later. */
export interface SchemaSource {
  readonly name: string;
  schemaFor(apiVersion: string, kind: string): Schema | undefined;
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

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'mapping' : `${typeof v} ${JSON.stringify(v)}`;
}
