import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { collectImages, unpinnedReason } from './images.js';
import { kustomizationFile } from './kustomize.js';
import type { SchemaSource } from './schema/validate.js';
import { idOf, idText, isObject, type JsonObject } from './types.js';
import { parseOne } from './yaml.js';
import { KilnError, formatIssues } from '../util/errors.js';

const imageTableSchema = z.object({
  images: z.array(z.object({ ref: z.string(), platforms: z.array(z.string()).min(1), digest: z.string().optional(), used_by: z.string().optional() })),
  charts: z.array(z.object({ repo: z.string(), chart: z.string(), version: z.string() })),
});
export type ImageTable = z.infer<typeof imageTableSchema>;

export function loadImageTable(file: string): ImageTable {
  const parsed = imageTableSchema.safeParse(parseOne(readFileSync(file, 'utf8'), file));
  if (!parsed.success) throw new KilnError(`${file}: ${formatIssues(parsed.error.issues).join('; ')}`);
  return parsed.data;
}

/** Directories under `root` holding a Kustomization (Components are rendered by their parents). */
export function findKustomizations(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    const file = kustomizationFile(dir);
    if (file && parseOne(readFileSync(file, 'utf8'), file).kind !== 'Component') found.push(dir);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
  };
  walk(root);
  return found.map((d) => relative(root, d) || '.').sort();
}

/** Schema problems of every object, as "Kind/ns/name (v): path: message" lines. */
export function schemaProblems(objects: readonly JsonObject[], source: SchemaSource): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const id = idOf(o);
    const validate = source.validatorFor(id.apiVersion, id.kind);
    if (!validate) {
      out.push(`${idText(id)}: no schema for ${id.apiVersion} ${id.kind} in ${source.name}`);
      continue;
    }
    for (const p of validate(o)) out.push(`${idText(id)}: ${p.path}: ${p.message}`);
  }
  return out;
}

/** Images that are unpinned, missing from the reviewed table, or lack linux/arm64 there. */
export function imageProblems(objects: readonly JsonObject[], table: ImageTable): string[] {
  const out: string[] = [];
  const byRef = new Map(table.images.map((i) => [i.ref, i]));
  for (const use of collectImages(objects)) {
    const why = unpinnedReason(use.image);
    if (why) out.push(`${use.where}: image "${use.image}" is not pinned: ${why}`);
    const entry = byRef.get(use.image);
    if (!entry) out.push(`${use.where}: image "${use.image}" is not in cluster/images.yaml`);
    else if (!entry.platforms.includes('linux/arm64')) out.push(`${use.where}: image "${use.image}" lacks linux/arm64 in cluster/images.yaml`);
  }
  return out;
}

/** HelmCharts must name a chart version listed in the table (k3s would otherwise take the latest). */
export function chartProblems(objects: readonly JsonObject[], table: ImageTable): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const id = idOf(o);
    if (id.kind !== 'HelmChart' || !isObject(o.spec)) continue;
    const { repo, chart, version } = o.spec;
    if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version)) {
      out.push(`${idText(id)}: spec.version must be an exact chart version`);
      continue;
    }
    if (!table.charts.some((c) => c.repo === repo && c.chart === chart && c.version === version)) {
      out.push(`${idText(id)}: chart ${String(chart)} ${version} from ${String(repo)} is not in cluster/images.yaml`);
    }
  }
  return out;
}
