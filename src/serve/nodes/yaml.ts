import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { diskSchema, nodeInputSchema, ROLES, sshKeySchema, type NodeInput } from './model.js';
import type { NodeRegistry } from './registry.js';

// nodes.yaml: the desired fleet, kept in Git. It wins over the database for every field it
// declares; the plan (install/local) stays operational state unless the file sets it.

const defaultsSchema = z.strictObject({
  image: z.string().optional(),
  role: z.enum(ROLES).optional(),
  sshKeys: z.array(sshKeySchema).optional(),
  /** A fleet that boots from NVMe or USB names its disk once; a node's own `disk` wins. */
  disk: diskSchema.optional(),
});

const fileSchema = z.strictObject({
  defaults: defaultsSchema.optional(),
  nodes: z.array(z.record(z.string(), z.unknown())),
});

export class NodesFileError extends Error {
  constructor(file: string, field: string, message: string) {
    super(`${file}: ${field}: ${message}`);
    this.name = 'NodesFileError';
  }
}

function firstIssue(file: string, prefix: (string | number)[], err: z.ZodError): NodesFileError {
  const issue = err.issues[0];
  const path = [...prefix, ...(issue?.path ?? [])].map(String).join('.') || '(root)';
  return new NodesFileError(file, path, issue?.message ?? 'invalid');
}

export function parseNodesYaml(text: string, file = 'nodes.yaml'): NodeInput[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new NodesFileError(file, '(root)', `not valid YAML: ${(err as Error).message}`);
  }
  const top = fileSchema.safeParse(doc);
  if (!top.success) throw firstIssue(file, [], top.error);
  const d = top.data.defaults ?? {};
  const seen = new Set<string>();
  return top.data.nodes.map((entry, i) => {
    const merged = {
      ...(d.image ? { image: d.image } : {}),
      ...(d.role ? { role: d.role } : {}),
      ...(d.sshKeys ? { sshKeys: d.sshKeys } : {}),
      ...(d.disk ? { disk: d.disk } : {}),
      ...entry,
    };
    const r = nodeInputSchema.safeParse(merged);
    if (!r.success) throw firstIssue(file, ['nodes', i], r.error);
    if (seen.has(r.data.name)) throw new NodesFileError(file, `nodes.${i}.name`, `duplicate node ${r.data.name}`);
    seen.add(r.data.name);
    return r.data;
  });
}

/** Applies nodes.yaml to the registry all-or-nothing; returns the names applied. */
export async function syncNodesFile(registry: NodeRegistry, file: string): Promise<string[]> {
  const inputs = parseNodesYaml(await readFile(file, 'utf8'), file);
  return registry.batch(() => inputs.map((n) => registry.upsert(n, 'yaml').name));
}
