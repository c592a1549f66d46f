import { readFile } from 'node:fs/promises';
import { isScalar, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { diskSchema, nodeInputSchema, ROLES, sshKeySchema, type NodeInput } from './model.js';
import { RegistryError, type NodeRegistry } from './registry.js';
import { KilnError } from '../../util/errors.js';

// nodes.yaml: the desired fleet, kept in Git. It wins over the database for every field it
// declares; the plan (install/local) stays operational state unless the file sets it. A node the
// file stops declaring is removed at the next (re)load, like any other edit to the file.

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

/** What the `removed` event of a node dropped from the file says. */
export const DROPPED_FROM_FILE = { source: 'yaml', reason: 'dropped from nodes.yaml' } as const;

export class NodesFileError extends KilnError {
  constructor(file: string, where: string, message: string) {
    super(`${file}: ${where}: ${message}`);
  }
}

/** One entry of the file, with where it stands so errors can point at it. */
export interface NodesFileEntry {
  index: number;
  input: NodeInput;
}

type Path = readonly PropertyKey[];

/** `sshKeys[0]`, `defaults.disk`: the path as the operator would look for it in the file. */
function showPath(path: Path): string {
  return path.reduce<string>((out, k) => (typeof k === 'number' ? `${out}[${k}]` : out ? `${out}.${String(k)}` : String(k)), '');
}

/** `nodes[3] (pi-04)`: the index always, the name when the entry has one. */
function entryLabel(index: number, name: unknown): string {
  return typeof name === 'string' && name !== '' ? `nodes[${index}] (${name})` : `nodes[${index}]`;
}

/** The file being read: its name for messages, its text and document for what was written where. */
interface Source {
  file: string;
  text: string;
  doc: Document;
}

/**
 * An unquoted 11112222 or 0x1234abcd is a number to YAML, and 1234e567 a float (Infinity): the
 * schema's "expected string" alone does not tell the operator why. The document still knows the
 * text as written, so the hint can show the quoted form.
 */
function numberHint(src: Source, docPath: Path, key: string): string {
  const node = src.doc.getIn(docPath, true);
  const written = isScalar(node) && node.range ? src.text.slice(node.range[0], node.range[1]) : '';
  if (!written) return 'YAML read this as a number; write it in quotes';
  const value = isScalar(node) ? node.value : undefined;
  const became = typeof value === 'number' && String(value) !== written ? ` (it became ${String(value)})` : '';
  return `YAML read ${written} as a number${became}; write it in quotes: ${key}: "${written}"`;
}

function issueError(src: Source, where: string, docPrefix: Path, issue: z.core.$ZodIssue | undefined, input: unknown): NodesFileError {
  if (!issue) return new NodesFileError(src.file, where || '(root)', 'invalid');
  const field = showPath(issue.path);
  const at = [where, field].filter(Boolean).join(': ') || '(root)';
  const last = issue.path.at(-1);
  if (issue.code === 'invalid_type' && issue.expected === 'string' && typeof valueAt(input, issue.path) === 'number') {
    return new NodesFileError(src.file, at, numberHint(src, [...docPrefix, ...issue.path], typeof last === 'string' ? last : field));
  }
  return new NodesFileError(src.file, at, issue.message);
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** Parses and checks the whole file: every entry valid, no name, serial or MAC declared twice. */
export function parseNodesFile(text: string, file = 'nodes.yaml'): NodesFileEntry[] {
  const doc = parseDocument(text);
  const [yamlError] = doc.errors;
  if (yamlError) throw new NodesFileError(file, '(root)', `not valid YAML: ${yamlError.message}`);
  const src: Source = { file, text, doc };
  const raw: unknown = doc.toJS();
  const top = fileSchema.safeParse(raw);
  if (!top.success) throw issueError(src, '', [], top.error.issues[0], raw);
  const d = top.data.defaults ?? {};
  const owners = { name: new Map<string, number>(), serial: new Map<string, number>(), mac: new Map<string, number>() };
  const entries = top.data.nodes.map((entry, index): NodesFileEntry => {
    const where = entryLabel(index, entry.name);
    const merged = {
      ...(d.image ? { image: d.image } : {}),
      ...(d.role ? { role: d.role } : {}),
      ...(d.sshKeys ? { sshKeys: d.sshKeys } : {}),
      ...(d.disk ? { disk: d.disk } : {}),
      ...entry,
    };
    const r = nodeInputSchema.safeParse(merged);
    if (!r.success) throw issueError(src, where, ['nodes', index], r.error.issues[0], merged);
    for (const key of ['name', 'serial', 'mac'] as const) {
      const v = r.data[key];
      if (v === undefined) continue;
      const first = owners[key].get(v);
      if (first !== undefined) {
        const other = entryLabel(first, top.data.nodes[first]?.name);
        throw new NodesFileError(file, `${where}: ${key}`, `${v} is also the ${key} of ${other}; each node must have its own`);
      }
      owners[key].set(v, index);
    }
    return { index, input: r.data };
  });
  return entries;
}

export function parseNodesYaml(text: string, file = 'nodes.yaml'): NodeInput[] {
  return parseNodesFile(text, file).map((e) => e.input);
}

/**
 * Applies nodes.yaml to the registry in one transaction: nodes the file no longer declares are
 * removed first (so a node renamed in the file can take its serial along), then every entry is
 * created or updated. Any error leaves the registry as it was.
 */
export async function syncNodesFile(registry: NodeRegistry, file: string): Promise<{ applied: string[]; removed: string[] }> {
  const entries = parseNodesFile(await readFile(file, 'utf8'), file);
  const declared = new Set(entries.map((e) => e.input.name));
  return registry.batch(async (tx) => {
    const removed: string[] = [];
    for (const n of await tx.list()) {
      if (n.source !== 'yaml' || declared.has(n.name)) continue;
      await tx.dropDeclared(n.name, DROPPED_FROM_FILE);
      removed.push(n.name);
    }
    const applied: string[] = [];
    for (const { index, input } of entries) {
      try {
        applied.push((await tx.upsert(input, 'yaml')).name);
      } catch (err) {
        if (!(err instanceof RegistryError) || !err.clash) throw err;
        const { field, value, owner, ownerSource } = err.clash;
        const how = ownerSource === 'yaml' ? `kiln learned this ${field} for it from DHCP` : 'added with kiln node add or the API, or discovered';
        throw new NodesFileError(
          file,
          `${entryLabel(index, input.name)}: ${field}`,
          `${value} already belongs to node ${owner} in the registry (${how}); remove that node (kiln node remove ${owner}) or change this entry`,
        );
      }
    }
    return { applied, removed };
  });
}
