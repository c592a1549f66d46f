import { KilnError } from '../util/errors.js';

/** Plain JSON as it comes out of a YAML manifest. */
export type Json = string | number | boolean | null | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Error about a manifest or kustomization, naming the file and, where known, the object. */
export class ManifestError extends KilnError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** The identity kustomize uses for a resource: group/version, kind, namespace, name. */
export interface ResourceId {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

export function idOf(obj: JsonObject): ResourceId {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  return {
    apiVersion: typeof obj.apiVersion === 'string' ? obj.apiVersion : '',
    kind: typeof obj.kind === 'string' ? obj.kind : '',
    namespace: typeof meta.namespace === 'string' ? meta.namespace : '',
    name: typeof meta.name === 'string' ? meta.name : '',
  };
}

export function idText(id: ResourceId): string {
  return `${id.kind}/${id.namespace ? `${id.namespace}/` : ''}${id.name} (${id.apiVersion})`;
}

/** Group part of an apiVersion ("" for the core group). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function clone<T extends Json>(v: T): T {
  return structuredClone(v);
}
