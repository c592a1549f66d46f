import { isObject, type Json, type JsonObject } from '../types.js';
import { describe, join, type Problem, type SchemaSource } from './validate.js';

/*
 * Validation with models generated from upstream schemas by kubernetes-models
 * (kubernetes-models for the Kubernetes OpenAPI document, @kubernetes-models/flux-cd for the Flux
 * CRDs). Every generated model class carries an ajv validator compiled from its schema: it checks
 * types, formats, enums and required fields exactly as that schema says.
 *
 * Those schemas do not close objects (the Kubernetes OpenAPI never sets additionalProperties:
 * false; the API server drops unknown fields, or rejects them under strict field validation, as
 * `kubectl apply` asks for), so the compiled validators accept a misspelt field. kiln wants a typo
 * to fail, so it runs the generated validator on a view of the object that records which fields the
 * validator looks up. A compiled validator looks up every property its schema defines on each object
 * it checks against that schema, and lists the keys of maps (additionalProperties: labels,
 * resources.limits). So on an object where it looked up fields but listed none, a key it never
 * looked up is one the schema does not have: an unknown field. An object it did not look into (a
 * schema without properties: x-kubernetes-preserve-unknown-fields, RawExtension, a Helm values
 * blob) stays open, as it is in the API server. test/unit/k8s/schema.test.ts pins this behaviour
 * down for the kinds cluster/ uses, so a dependency update that changed it would fail there.
 */

/** A generated model class: its prototype's `validate()` checks `this` and throws on problems. */
export interface Model {
  readonly prototype: { validate(): void };
}

/** A model of a top-level kind (`Deployment.apiVersion === 'apps/v1'`, `Deployment.kind === 'Deployment'`). */
interface KindModel extends Model {
  readonly apiVersion: string;
  readonly kind: string;
}

function isKindModel(v: unknown): v is KindModel {
  if (typeof v !== 'function') return false;
  const m = v as unknown as { apiVersion?: unknown; kind?: unknown; prototype?: { validate?: unknown } };
  return typeof m.apiVersion === 'string' && typeof m.kind === 'string' && typeof m.prototype?.validate === 'function';
}

/**
 * A source made of the model classes that `modules` (group/version index modules of a
 * kubernetes-models package) export, less the "apiVersion/Kind" keys in `exclude`.
 */
export function modelSource(name: string, modules: readonly object[], exclude: readonly string[] = []): SchemaSource & { kinds(): string[] } {
  const models = new Map<string, KindModel>();
  for (const mod of modules) {
    for (const v of Object.values(mod)) {
      if (!isKindModel(v)) continue;
      const key = `${v.apiVersion}/${v.kind}`;
      if (!exclude.includes(key)) models.set(key, v);
    }
  }
  return {
    name,
    validatorFor(apiVersion, kind) {
      const model = models.get(`${apiVersion}/${kind}`);
      return model && ((obj) => modelProblems(model, obj));
    },
    kinds: () => [...models.keys()].sort(),
  };
}

/** The error objects ajv's compiled validators report (ValidationError.errors). */
interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

function ajvErrors(e: unknown): readonly AjvError[] | undefined {
  const errors = (e as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) ? (errors as AjvError[]) : undefined;
}

/**
 * Problems of `obj` against `model`: the generated validator's errors plus unknown fields, with
 * paths like `spec.template.spec.containers[0].image` (after `prefix`, when given).
 */
export function modelProblems(model: Model, obj: JsonObject, prefix = ''): Problem[] {
  const data = structuredClone(obj);
  const visits: Visit[] = [];
  const view = watched(data, prefix, visits);
  let errors: readonly AjvError[] = [];
  try {
    model.prototype.validate.call(view);
  } catch (e) {
    const found = ajvErrors(e);
    if (!found) throw e;
    errors = found;
  }
  return [...errorProblems(errors, data, prefix), ...unknownFields(visits)];
}

/** One object or list the validator was handed, and what it did with it. */
interface Visit {
  value: JsonObject | Json[];
  path: string;
  /** Keys looked up (whether or not present). */
  looked: Set<string>;
  /** Whether its keys were listed, as a validator does for a map. */
  listed: boolean;
}

function watched(value: Json, path: string, visits: Visit[]): Json {
  if (value === null || typeof value !== 'object') return value;
  const visit: Visit = { value, path, looked: new Set(), listed: false };
  visits.push(visit);
  const children = new Map<string, Json>();
  const list = Array.isArray(value);
  return new Proxy(value, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return v;
      visit.looked.add(key);
      if (!Object.hasOwn(target, key) || v === null || typeof v !== 'object') return v;
      let child = children.get(key);
      if (child === undefined) {
        child = watched(v as Json, list ? `${path}[${key}]` : join(path, key), visits);
        children.set(key, child);
      }
      return child;
    },
    has(target, key) {
      if (typeof key === 'string') visit.looked.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      visit.listed = true;
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(visits: readonly Visit[]): Problem[] {
  const out: Problem[] = [];
  for (const v of visits) {
    if (Array.isArray(v.value) || v.listed || v.looked.size === 0) continue;
    for (const key of Object.keys(v.value)) {
      if (!v.looked.has(key)) out.push({ path: join(v.path, key), message: 'unknown field' });
    }
  }
  return out;
}

function errorProblems(errors: readonly AjvError[], data: JsonObject, prefix: string): Problem[] {
  const byPointer = new Map<string, AjvError[]>();
  for (const e of errors) byPointer.set(e.instancePath, [...(byPointer.get(e.instancePath) ?? []), e]);
  const out: Problem[] = [];
  for (const [pointer, errs] of byPointer) {
    const { path, value } = resolve(data, pointer, prefix);
    const got = value === undefined ? 'nothing' : describe(value);
    const types = errs.filter((e) => e.keyword === 'type').flatMap((e) => String(e.params.type).split(','));
    if (types.length > 0) {
      // The oneOf/format errors that come with a type error at the same place only repeat it.
      out.push({ path, message: `expected ${[...new Set(types.map(typeName))].sort().join(' or ')}, got ${got}` });
      continue;
    }
    for (const e of errs) {
      switch (e.keyword) {
        case 'required':
          out.push({ path: join(path, String(e.params.missingProperty)), message: 'is required' });
          break;
        case 'enum': {
          const allowed = Array.isArray(e.params.allowedValues) ? e.params.allowedValues.map(String) : [];
          out.push({ path, message: `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}` });
          break;
        }
        case 'format':
          out.push({ path, message: `is not a valid ${String(e.params.format)}, got ${got}` });
          break;
        case 'pattern':
          out.push({ path, message: `must match ${String(e.params.pattern)}, got ${got}` });
          break;
        default:
          out.push({ path, message: e.message ?? `fails "${e.keyword}"` });
      }
    }
  }
  return out;
}

function typeName(t: string): string {
  return t === 'object' ? 'mapping' : t === 'array' ? 'list' : t;
}

/** Follows a JSON Pointer (ajv's instancePath) into `data`, naming it the way kiln prints paths. */
function resolve(data: Json, pointer: string, prefix: string): { path: string; value: Json | undefined } {
  let path = prefix;
  let value: Json | undefined = data;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(value)) {
      path = `${path}[${key}]`;
      value = value[Number(key)];
    } else {
      path = join(path, key);
      value = isObject(value) ? value[key] : undefined;
    }
  }
  return { path, value };
}
