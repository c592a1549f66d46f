import { readFile } from 'node:fs/promises';
import { dirname, resolve, isAbsolute } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { imageSpecSchema, type ImageSpec } from './schema.js';
import { hashOf } from '../util/hash.js';
import { KilnError, formatIssues } from '../util/errors.js';

export class SpecError extends KilnError {
  constructor(
    readonly file: string,
    readonly problems: string[],
    hint?: string,
  ) {
    super(`invalid image spec ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, hint ? { hint } : {});
  }
}

export interface LoadedSpec {
  spec: ImageSpec;
  /** Absolute path of the spec file named by the user. */
  path: string;
  /** Hash of the whole resolved spec (after extends and defaults). */
  sha256: string;
  /** Hash of the parts that decide the package closure; the lock records it. */
  packagesHash: string;
  /** Where each artifact's relative url points, resolved against the file that declared it. */
  artifactSources: Record<string, string>;
}

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key, arrays and scalars replace, `null` removes the inherited key. */
export function mergeSpecs(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else if (isPlain(v) && isPlain(out[k])) out[k] = mergeSpecs(out[k] as Plain, v);
    else out[k] = v;
  }
  return out;
}

async function readRaw(file: string, seen: string[]): Promise<{ raw: Plain; sources: Record<string, string> }> {
  if (seen.includes(file)) throw new SpecError(file, [`extends: cycle through ${[...seen, file].join(' -> ')}`]);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SpecError(file, [`cannot read: ${(err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new SpecError(file, [`YAML: ${(err as Error).message}`]);
  }
  if (!isPlain(doc)) throw new SpecError(file, ['(top level): must be a mapping']);
  const sources: Record<string, string> = {};
  const arts = doc.artifacts;
  if (isPlain(arts)) {
    for (const [name, a] of Object.entries(arts)) {
      if (isPlain(a) && typeof a.url === 'string') sources[name] = resolveSource(dirname(file), a.url);
    }
  }
  const { extends: parent, ...rest } = doc;
  if (parent === undefined) return { raw: rest, sources };
  if (typeof parent !== 'string') throw new SpecError(file, ['extends: must be a path to another spec']);
  const base = await readRaw(resolve(dirname(file), parent), [...seen, file]);
  return { raw: mergeSpecs(base.raw, rest), sources: { ...base.sources, ...sources } };
}

function resolveSource(dir: string, url: string): string {
  if (/^[a-z]+:\/\//.test(url)) return url;
  return isAbsolute(url) ? url : resolve(dir, url);
}

export function validateSpec(raw: unknown, file: string): ImageSpec {
  const r = imageSpecSchema.safeParse(raw);
  if (!r.success) throw new SpecError(file, formatIssues(r.error.issues), 'images/pi-k3s.yaml, the default spec, shows every field with a comment');
  return r.data;
}

export async function loadSpec(file: string): Promise<LoadedSpec> {
  const path = resolve(file);
  const { raw, sources } = await readRaw(path, []);
  const spec = validateSpec(raw, path);
  const artifactSources: Record<string, string> = {};
  for (const [name, a] of Object.entries(spec.artifacts)) artifactSources[name] = sources[name] ?? a.url;
  return {
    spec,
    path,
    sha256: hashOf(spec),
    packagesHash: hashOf({ debian: spec.debian, packages: [...spec.packages].sort() }),
    artifactSources,
  };
}
