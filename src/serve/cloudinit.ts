import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { sha256 } from '../util/hash.js';
import { blankNode, type NodeRecord } from './nodes/model.js';
import { KilnError } from '../util/errors.js';

// NoCloud seed rendering. Templates come from cloud-init/; values are inserted JSON-quoted, which
// YAML reads as plain scalars or flow sequences, so a hostname or key can never inject YAML.

export const SEED_FILES = ['meta-data', 'user-data', 'network-config'] as const;
export type SeedFile = (typeof SEED_FILES)[number];

export type Templates = Record<SeedFile, string>;

export async function loadTemplates(dir: string): Promise<Templates> {
  const out: Partial<Templates> = {};
  for (const f of SEED_FILES) out[f] = await readFile(join(dir, `${f}.tmpl`), 'utf8');
  const templates = out as Templates;
  // Fail at startup, not on a node's first boot, if a template is broken.
  for (const f of SEED_FILES) renderSeed(f, templates, SAMPLE);
  return templates;
}

export interface SeedValues {
  node: NodeRecord;
  /** Changes when the node is (re)provisioned, so cloud-init runs again. */
  provisionId: string;
  k3sToken: string;
  /** https URL of a k3s server for joining nodes; absent for the cluster-init server. */
  serverUrl: string | undefined;
  eventsUrl: string;
  reportToken: string;
}

const SAMPLE: SeedValues = {
  node: blankNode('sample'),
  provisionId: '0',
  k3sToken: 'sample',
  serverUrl: 'https://sample:6443',
  eventsUrl: 'http://sample/',
  reportToken: 'sample',
};

export function k3sConfig(v: SeedValues): string {
  const cfg: Record<string, unknown> = { token: v.k3sToken, 'node-name': v.node.name };
  if (v.node.clusterInit) cfg['cluster-init'] = true;
  else if (v.serverUrl) cfg.server = v.serverUrl;
  return stringify(cfg);
}

export function nodeEnv(v: SeedValues): string {
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  return [`KILN_NODE=${q(v.node.name)}`, `KILN_ROLE=${v.node.role}`, `KILN_EVENTS_URL=${q(v.eventsUrl)}`, `KILN_REPORT_TOKEN=${q(v.reportToken)}`, ''].join(
    '\n',
  );
}

export function instanceId(v: SeedValues): string {
  return `kiln-${v.node.name}-${sha256(`${v.node.name}\n${v.provisionId}`).slice(0, 12)}`;
}

export function fillTemplate(template: string, values: Record<string, unknown>, what: string): string {
  const out = template.replace(/\{\{\s*([a-z0-9_]+)\s*\}\}/g, (_m, key: string) => {
    if (!(key in values)) throw new KilnError(`${what}: unknown placeholder {{ ${key} }}`);
    return JSON.stringify(values[key]);
  });
  if (out.includes('{{')) throw new KilnError(`${what}: malformed placeholder near ${JSON.stringify(out.slice(out.indexOf('{{'), out.indexOf('{{') + 30))}`);
  // The result must still be the YAML document the template describes.
  parse(out);
  return out;
}

export function renderSeed(file: SeedFile, templates: Templates, v: SeedValues): string {
  const values: Record<string, unknown> = {
    hostname: v.node.name,
    instance_id: instanceId(v),
    ssh_authorized_keys: v.node.sshKeys,
    k3s_config: k3sConfig(v),
    node_env: nodeEnv(v),
    role: v.node.role,
  };
  return fillTemplate(templates[file], values, `cloud-init/${file}.tmpl`);
}
