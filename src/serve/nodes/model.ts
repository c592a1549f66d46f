import { z } from 'zod';

// A node is one Pi. `plan` is what the service does when it netboots; `state` is what the service
// last learned about it. Identity is the hostname; serial and MAC are how the network finds it.

export const ROLES = ['server', 'agent'] as const;
export const PLANS = ['install', 'local', 'discovered'] as const;
export const STATES = ['registered', 'discovered', 'installing', 'installed', 'booted', 'joined', 'failed'] as const;

export type Role = (typeof ROLES)[number];
export type Plan = (typeof PLANS)[number];
export type NodeState = (typeof STATES)[number];

export const hostnameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits, inner hyphens');
export const serialSchema = z
  .string()
  .transform((s) => s.toLowerCase().replace(/^0x/, '').replace(/^0+(?=[0-9a-f]{8}$)/, ''))
  .pipe(z.string().regex(/^[0-9a-f]{8}$/, 'must be the 8 hex digits the Pi firmware prints'));
export const macSchema = z
  .string()
  .transform((s) => s.toLowerCase().replaceAll('-', ':'))
  .pipe(z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'must be a MAC address like dc:a6:32:01:02:03'));
export const sshKeySchema = z.string().regex(/^(ssh-|ecdsa-|sk-)[\w@.-]+ [A-Za-z0-9+/=]+( [^\n]*)?$/, 'must be one OpenSSH public key line');

export interface NodeRecord {
  name: string;
  serial: string | null;
  mac: string | null;
  role: Role;
  image: string | null;
  plan: Plan;
  state: NodeState;
  sshKeys: string[];
  /** The first server of a new cluster starts it (`cluster-init`); every other node joins. */
  clusterInit: boolean;
  /** Last address the node was seen at (TFTP/HTTP source, or a full-mode lease). */
  ip: string | null;
  lastSeen: string | null;
  /** Where the desired fields came from: the operator's nodes.yaml wins over the database. */
  source: 'db' | 'yaml';
}

/** Input to create or update a node (API body, CLI, nodes.yaml entry). */
export const nodeInputSchema = z
  .strictObject({
    name: hostnameSchema,
    serial: serialSchema.optional(),
    mac: macSchema.optional(),
    role: z.enum(ROLES).default('agent'),
    image: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be an image name from the images dir').optional(),
    /** Absent: keep the current plan (new nodes start with `install`). */
    plan: z.enum(['install', 'local']).optional(),
    sshKeys: z.array(sshKeySchema).max(64).default([]),
    clusterInit: z.boolean().default(false),
  })
  .refine((n) => n.serial !== undefined || n.mac !== undefined, {
    message: 'a node needs a serial or a mac so the network can find it',
    path: ['serial'],
  });
export type NodeInput = z.infer<typeof nodeInputSchema>;

export const EVENT_TYPES = [
  'dhcp-seen',
  'dhcp-offered',
  'dhcp-declined',
  'discovered',
  'file-fetched',
  'seed-fetched',
  'install-started',
  'install-progress',
  'installed',
  'install-failed',
  'first-boot',
  'k3s-joined',
  'registered',
  'updated',
  'reprovision',
  'removed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface NodeEvent {
  id: number;
  node: string;
  type: EventType;
  at: string;
  data: Record<string, unknown>;
}

/** What a node may report about itself (POST /api/nodes/:name/events). */
export const nodeReportSchema = z.strictObject({
  type: z.enum(['install-started', 'install-progress', 'installed', 'install-failed', 'first-boot', 'k3s-joined']),
  progress: z.number().min(0).max(100).optional(),
  message: z.string().max(1000).optional(),
});
export type NodeReport = z.infer<typeof nodeReportSchema>;

/** The state a reported event moves a node into, if any. */
export function stateAfter(type: EventType, current: NodeState): NodeState {
  switch (type) {
    case 'install-started':
    case 'install-progress':
      return 'installing';
    case 'installed':
      return 'installed';
    case 'install-failed':
      return 'failed';
    case 'first-boot':
      return 'booted';
    case 'k3s-joined':
      return 'joined';
    default:
      return current;
  }
}
