import { KilnError } from '../../util/errors.js';
import type { EventType, NodeEvent, NodeRecord, NodeState, Plan, Role } from './model.js';

// The registry's rows as either database returns them, and the errors its changes raise.

/** Which identity of which node a change collided with, for callers that explain it in their own terms. */
export interface IdentityClash {
  field: 'serial' | 'mac';
  value: string;
  owner: string;
  ownerSource: 'db' | 'yaml';
}

export class RegistryError extends KilnError {
  constructor(
    message: string,
    readonly code: 'not-found' | 'conflict' | 'forbidden',
    readonly clash?: IdentityClash,
  ) {
    super(message);
  }
}

/** Booleans are 0/1 integers, timestamps ISO text and lists JSON text in both databases. */
export interface NodeRow {
  name: string;
  serial: string | null;
  mac: string | null;
  role: string;
  image: string | null;
  plan: string;
  state: string;
  ssh_keys: string;
  cluster_init: number;
  ip: string | null;
  last_seen: string | null;
  source: string;
  report_token: string;
  self_heal: number;
  parked: string | null;
  disk: string | null;
  provision_id: number | string | null;
  install_token: string | null;
  install_expires: string | null;
  install_used: string | null;
  install_needs_previous: number;
  credential_hash: string | null;
  leased_ip: string | null;
  model: string | null;
  board_revision: string | null;
  config_txt: string | null;
}

/** `id` may come back as text: PostgreSQL returns a BIGINT that way, to keep every digit. */
export interface EventRow {
  id: number | string;
  node: string;
  type: string;
  at: string;
  data: string;
  agent?: string | null;
}

export function toRecord(r: NodeRow): NodeRecord {
  return {
    name: r.name,
    serial: r.serial,
    mac: r.mac,
    role: r.role as Role,
    image: r.image,
    plan: r.plan as Plan,
    state: r.state as NodeState,
    sshKeys: JSON.parse(r.ssh_keys) as string[],
    clusterInit: Number(r.cluster_init) === 1,
    ip: r.ip,
    lastSeen: r.last_seen,
    source: r.source === 'yaml' ? 'yaml' : 'db',
    selfHeal: Number(r.self_heal) !== 0,
    parked: r.parked,
    disk: r.disk,
    provisionId: r.provision_id === null ? 0 : Number(r.provision_id),
    model: r.model,
    boardRevision: r.board_revision,
    configTxt: r.config_txt === null ? [] : (JSON.parse(r.config_txt) as string[]),
  };
}

export function toEvent(r: EventRow): NodeEvent {
  return { id: Number(r.id), node: r.node, type: r.type as EventType, at: r.at, data: JSON.parse(r.data) as Record<string, unknown>, agent: r.agent ?? null };
}
