import { parse } from 'yaml';
import { groupOf, idOf, idText, isObject, type Json, type JsonObject } from './types.js';

export interface ImageUse {
  image: string;
  /** Which object and field it came from, for error messages. */
  where: string;
}

const POD_TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/**
 * Every container image a rendered set will pull: pod templates' containers, a CloudNativePG
 * Cluster's `spec.imageName`, and the images set in k3s HelmChart/HelmChartConfig values (as `image: repo:tag`, or `image: repo` beside `tag:`).
 * Images a chart uses by default, without a value here, are invisible to this check: pin them in
 * the values so that they show.
 */
export function collectImages(objects: readonly JsonObject[]): ImageUse[] {
  const out: ImageUse[] = [];
  for (const o of objects) {
    const id = idOf(o);
    const path = POD_TEMPLATE_PATHS[id.kind];
    if (path) {
      const spec = dig(o, path);
      for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
        const list = isObject(spec) ? spec[field] : undefined;
        if (!Array.isArray(list)) continue;
        for (const c of list) {
          if (isObject(c) && typeof c.image === 'string') out.push({ image: c.image, where: `${idText(id)} ${field}[${String(c.name)}]` });
          else if (isObject(c)) out.push({ image: '', where: `${idText(id)} ${field}[${String(c.name)}] (no image)` });
        }
      }
    }
    // A CloudNativePG Cluster's PostgreSQL image; without imageName the operator picks its own
    // default, which this check could not see: reported as "no image" so that it gets pinned.
    if (id.kind === 'Cluster' && groupOf(id.apiVersion) === 'postgresql.cnpg.io') {
      const imageName = isObject(o.spec) ? o.spec.imageName : undefined;
      out.push(
        typeof imageName === 'string'
          ? { image: imageName, where: `${idText(id)} spec.imageName` }
          : { image: '', where: `${idText(id)} spec.imageName (no image)` },
      );
    }
    if ((id.kind === 'HelmChart' || id.kind === 'HelmChartConfig') && isObject(o.spec) && typeof o.spec.valuesContent === 'string') {
      const values = parse(o.spec.valuesContent) as Json;
      walkValues(values, `${idText(id)} valuesContent`, out);
    }
  }
  return out;
}

function walkValues(v: Json, where: string, out: ImageUse[]): void {
  if (Array.isArray(v)) for (const [i, x] of v.entries()) walkValues(x, `${where}[${i}]`, out);
  if (!isObject(v)) return;
  const image = v.image;
  if (typeof image === 'string') {
    const tag = v.tag;
    out.push({ image: typeof tag === 'string' && tag.length > 0 ? `${image}:${tag}` : image, where: `${where}.image` });
  } else if (isObject(image) && typeof image.repository === 'string') {
    const tag = image.tag;
    out.push({ image: typeof tag === 'string' ? `${image.repository}:${tag}` : image.repository, where: `${where}.image` });
  }
  for (const [k, x] of Object.entries(v)) if (k !== 'image') walkValues(x, `${where}.${k}`, out);
}

function dig(o: Json, path: readonly string[]): Json | undefined {
  let at: Json | undefined = o;
  for (const k of path) at = isObject(at) ? at[k] : undefined;
  return at;
}

export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/** Splits `registry/repo:tag@sha256:...`; the registry must be explicit (no docker.io guessing). */
export function parseImageRef(ref: string): ImageRef | undefined {
  const m = /^([a-z0-9.-]+(?::\d+)?)\/([a-z0-9._/-]+?)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/.exec(ref);
  if (!m?.[1] || !m[2] || !m[1].includes('.')) return undefined;
  return { registry: m[1], repository: m[2], tag: m[3], digest: m[4] };
}

/** Why an image reference is not pinned, or undefined when it is (a digest, or a version tag). */
export function unpinnedReason(ref: string): string | undefined {
  const parsed = parseImageRef(ref);
  if (!parsed) return 'not a fully qualified reference (write registry/repository:tag, e.g. docker.io/library/x:1.2.3)';
  if (parsed.digest) return undefined;
  if (!parsed.tag) return 'no tag or digest';
  // A version, then any suffix: -rc1, .post1, or CloudNativePG's 18.3-system-trixie.
  if (!/^v?\d+\.\d+(\.\d+)?([.-][\w.-]+)?$/.test(parsed.tag)) return `tag "${parsed.tag}" is not a version`;
  return undefined;
}
