import { clone, isObject, type Json, type JsonObject } from './types.js';
import { KilnError } from '../util/errors.js';

/**
 * The part of Kubernetes' strategic merge patch that our manifests use: maps merge key by key,
 * `null` deletes a key, and the lists below merge item by item on their merge key (as the
 * Kubernetes API declares them); every other list is replaced whole. `$patch`/`$retainKeys`
 * directives are refused rather than half-supported.
 */
export function strategicMerge(base: JsonObject, patch: JsonObject, where: string): JsonObject {
  return mergeMaps(base, patch, [], where);
}

// Field name -> merge key, for the lists our manifests patch. `ports` depends on the parent:
// container ports merge on containerPort, Service ports on port.
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
};

function mergeKeyFor(path: readonly string[]): string | undefined {
  const field = path[path.length - 1];
  if (field === undefined) return undefined;
  if (field === 'ports') {
    const parent = path[path.length - 2];
    if (parent === 'containers' || parent === 'initContainers' || parent === 'ephemeralContainers') return 'containerPort';
    if (path.length === 2 && path[0] === 'spec') return 'port';
    return undefined;
  }
  return MERGE_KEYS[field];
}

function mergeMaps(base: JsonObject, patch: JsonObject, path: string[], where: string): JsonObject {
  const out: JsonObject = clone(base);
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) {
      throw new KilnError(`${where}: strategic-merge directive ${key} at ${[...path, key].join('.')} is not supported by kiln's renderer`);
    }
    if (value === null) {
      delete out[key];
      continue;
    }
    const current = out[key];
    const here = [...path, key];
    if (isObject(value) && isObject(current)) out[key] = mergeMaps(current, value, here, where);
    else if (Array.isArray(value) && Array.isArray(current)) out[key] = mergeLists(current, value, here, where);
    else out[key] = clone(value);
  }
  return out;
}

function mergeLists(base: Json[], patch: Json[], path: string[], where: string): Json[] {
  const key = mergeKeyFor(path);
  if (!key) return clone(patch);
  const out = clone(base);
  for (const item of patch) {
    if (!isObject(item) || item[key] === undefined) {
      throw new KilnError(`${where}: items of ${path.join('.')} need their merge key "${key}"`);
    }
    // The path of a list item keeps the list's name, so nested lists (containers[].ports) resolve.
    const at = out.findIndex((b) => isObject(b) && b[key] === item[key]);
    const existing = at >= 0 ? out[at] : undefined;
    if (isObject(existing)) out[at] = mergeMaps(existing, item, path, where);
    else out.push(clone(item));
  }
  return out;
}
