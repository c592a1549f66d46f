import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { strategicMerge } from './merge.js';
import { addLabels, setNamespace, type LabelRule } from './transform.js';
import { groupOf, idOf, idText, isObject, ManifestError, type Json, type JsonObject } from './types.js';
import { parseManifests, parseOne } from './yaml.js';

/*
 * The subset of kustomize that cluster/ uses, so checks run without kubectl: resources (files and
 * directories), components, namespace, labels / commonLabels, patches (strategic merge, from a
 * file or inline, with or without a target). Anything else in a kustomization is an error, so a
 * manifest can never silently depend on a feature this renderer ignores. Remote resources are
 * refused: the render must be reproducible offline.
 */

const FILE_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'components', 'namespace', 'labels', 'commonLabels', 'patches']);

interface Target {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

interface Patch {
  body: JsonObject;
  target?: Target;
  source: string;
}

interface Kustomization {
  dir: string;
  file: string;
  kind: 'Kustomization' | 'Component';
  resources: string[];
  components: string[];
  namespace?: string;
  labels: LabelRule[];
  patches: Patch[];
}

/** Renders the kustomization in `dir` (must be a Kustomization, not a Component). */
export function renderKustomization(dir: string): JsonObject[] {
  const k = loadKustomization(resolve(dir));
  if (k.kind !== 'Kustomization') throw new ManifestError(k.file, 'a Component renders only as part of a Kustomization');
  return build(k, [resolve(dir)]);
}

/** Finds the kustomization file of a directory, or undefined. */
export function kustomizationFile(dir: string): string | undefined {
  return FILE_NAMES.map((n) => join(dir, n)).find((f) => existsSync(f));
}

function build(k: Kustomization, stack: string[]): JsonObject[] {
  let objects: JsonObject[] = [];
  for (const entry of k.resources) objects.push(...loadResource(k, entry, stack));
  checkUnique(objects, k.file);
  // kustomize's order: the parent's resources, then each component (its resources join, then
  // its transformers see everything so far), then the parent's own transformers.
  for (const entry of k.components) {
    const dir = localPath(k, entry);
    const c = loadKustomization(dir);
    if (c.kind !== 'Component') throw new ManifestError(k.file, `components entry ${entry} is a ${c.kind}, not a Component`);
    objects = transform(c, [...objects, ...build({ ...c, patches: [], labels: [], namespace: undefined }, [...stack, dir])]);
    checkUnique(objects, c.file);
  }
  return transform(k, objects);
}

function transform(k: Kustomization, input: JsonObject[]): JsonObject[] {
  let objects = input;
  for (const p of k.patches) objects = applyPatch(objects, p, k.file);
  if (k.namespace !== undefined) for (const o of objects) setNamespace(o, k.namespace);
  for (const rule of k.labels) for (const o of objects) addLabels(o, rule);
  return objects;
}

function loadResource(k: Kustomization, entry: string, stack: string[]): JsonObject[] {
  const path = localPath(k, entry);
  if (statSync(path).isDirectory()) {
    if (stack.includes(path)) throw new ManifestError(k.file, `resource cycle through ${entry}`);
    const sub = loadKustomization(path);
    if (sub.kind !== 'Kustomization') throw new ManifestError(k.file, `resources entry ${entry} is a Component: list it under components`);
    return build(sub, [...stack, path]);
  }
  const objects = parseManifests(readFileSync(path, 'utf8'), path);
  for (const o of objects) {
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || !isObject(o.metadata) || typeof o.metadata.name !== 'string') {
      throw new ManifestError(path, 'every object needs apiVersion, kind and metadata.name');
    }
  }
  return objects;
}

/** Resolves a path from a kustomization, refusing URLs and missing files. */
function localPath(k: Kustomization, entry: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || entry.startsWith('github.com/')) {
    throw new ManifestError(k.file, `remote resource ${entry} is not allowed: renders must work offline`);
  }
  const path = resolve(k.dir, entry);
  if (!existsSync(path)) throw new ManifestError(k.file, `${entry} does not exist`);
  return path;
}

function loadKustomization(dir: string): Kustomization {
  const file = kustomizationFile(dir);
  if (!file) throw new ManifestError(dir, 'no kustomization.yaml here');
  const raw = parseOne(readFileSync(file, 'utf8'), file);
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.has(key)) throw new ManifestError(file, `field "${key}" is not supported by kiln's renderer (src/k8s/kustomize.ts)`);
  }
  const kind = raw.kind ?? 'Kustomization';
  if (kind !== 'Kustomization' && kind !== 'Component') throw new ManifestError(file, `kind must be Kustomization or Component, not ${String(kind)}`);
  return {
    dir,
    file,
    kind,
    resources: stringList(raw.resources, 'resources', file),
    components: stringList(raw.components, 'components', file),
    namespace: optionalString(raw.namespace, 'namespace', file),
    labels: labelRules(raw, file),
    patches: patchList(raw.patches, dir, file),
  };
}

function labelRules(raw: JsonObject, file: string): LabelRule[] {
  const rules: LabelRule[] = [];
  if (raw.commonLabels !== undefined) {
    rules.push({ pairs: stringMap(raw.commonLabels, 'commonLabels', file), includeSelectors: true, includeTemplates: true });
  }
  if (raw.labels !== undefined) {
    if (!Array.isArray(raw.labels)) throw new ManifestError(file, 'labels must be a list');
    for (const [i, l] of raw.labels.entries()) {
      if (!isObject(l)) throw new ManifestError(file, `labels[${i}] must be a mapping`);
      for (const key of Object.keys(l)) {
        if (!['pairs', 'includeSelectors', 'includeTemplates'].includes(key)) throw new ManifestError(file, `labels[${i}].${key} is not supported`);
      }
      rules.push({
        pairs: stringMap(l.pairs, `labels[${i}].pairs`, file),
        includeSelectors: l.includeSelectors === true,
        includeTemplates: l.includeTemplates === true,
      });
    }
  }
  return rules;
}

function patchList(value: Json | undefined, dir: string, file: string): Patch[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ManifestError(file, 'patches must be a list');
  // A patch file may hold several documents (each names its own object); flatten them.
  return value.flatMap((p, i): Patch[] => {
    const where = `${relative(process.cwd(), file)} patches[${i}]`;
    if (!isObject(p)) throw new ManifestError(file, `patches[${i}] must be a mapping`);
    for (const key of Object.keys(p)) {
      if (!['path', 'patch', 'target'].includes(key)) throw new ManifestError(file, `patches[${i}].${key} is not supported`);
    }
    let text: string;
    if (typeof p.path === 'string') text = readFileSync(resolve(dir, p.path), 'utf8');
    else if (typeof p.patch === 'string') text = p.patch;
    else throw new ManifestError(file, `patches[${i}] needs path or patch`);
    const docs = parseManifests(text, where);
    const target = p.target === undefined ? undefined : parseTarget(p.target, `patches[${i}].target`, file);
    if (docs.length === 0 || (target && docs.length > 1)) {
      throw new ManifestError(file, `patches[${i}] must hold strategic-merge documents, one per patch when it has a target`);
    }
    return docs.map((body) => ({ body, target, source: where }));
  });
}

function parseTarget(value: Json, field: string, file: string): Target {
  if (!isObject(value)) throw new ManifestError(file, `${field} must be a mapping`);
  const target: Target = {};
  for (const [key, v] of Object.entries(value)) {
    if (key !== 'group' && key !== 'version' && key !== 'kind' && key !== 'name' && key !== 'namespace') {
      throw new ManifestError(file, `${field}.${key} is not supported (only group, version, kind, name, namespace)`);
    }
    if (typeof v !== 'string') throw new ManifestError(file, `${field}.${key} must be a string`);
    target[key] = v;
  }
  return target;
}

function applyPatch(objects: JsonObject[], p: Patch, file: string): JsonObject[] {
  const self = idOf(p.body);
  // Without a target a patch names its object itself, by kind and name (and namespace if given).
  const target: Target = p.target ?? { kind: self.kind, name: self.name, ...(self.namespace ? { namespace: self.namespace } : {}) };
  let hits = 0;
  const out = objects.map((o) => {
    if (!matches(o, target)) return o;
    hits++;
    // The patch's own identity fields must not rename the object it is applied to.
    const body: JsonObject = { ...p.body };
    delete body.apiVersion;
    delete body.kind;
    if (isObject(body.metadata)) {
      const meta: JsonObject = { ...body.metadata };
      delete meta.name;
      delete meta.namespace;
      body.metadata = meta;
    }
    return strategicMerge(o, body, p.source);
  });
  if (hits === 0) throw new ManifestError(file, `${p.source} matches no resource (${JSON.stringify(target)})`);
  return out;
}

function matches(o: JsonObject, t: Target): boolean {
  const id = idOf(o);
  const version = id.apiVersion.includes('/') ? id.apiVersion.slice(id.apiVersion.indexOf('/') + 1) : id.apiVersion;
  return (
    (t.kind === undefined || t.kind === id.kind) &&
    (t.name === undefined || t.name === id.name) &&
    (t.namespace === undefined || t.namespace === id.namespace) &&
    (t.group === undefined || t.group === groupOf(id.apiVersion)) &&
    (t.version === undefined || t.version === version)
  );
}

function checkUnique(objects: readonly JsonObject[], file: string): void {
  const seen = new Set<string>();
  for (const o of objects) {
    const id = idOf(o);
    const key = `${groupOf(id.apiVersion)}|${id.kind}|${id.namespace}|${id.name}`;
    if (seen.has(key)) throw new ManifestError(file, `${idText(id)} is defined twice`);
    seen.add(key);
  }
}

function stringList(value: Json | undefined, field: string, file: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new ManifestError(file, `${field} must be a list of strings`);
  }
  return value;
}

function stringMap(value: Json | undefined, field: string, file: string): Record<string, string> {
  if (!isObject(value)) throw new ManifestError(file, `${field} must be a mapping`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new ManifestError(file, `${field}.${k} must be a string (quote numbers and booleans)`);
    out[k] = v;
  }
  return out;
}

function optionalString(value: Json | undefined, field: string, file: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ManifestError(file, `${field} must be a string`);
  return value;
}
