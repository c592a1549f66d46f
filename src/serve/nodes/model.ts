import { z } from 'zod';
import { configTxtSchema } from './config-txt.js';

// A node is one Pi. `plan` is what the service does when it netboots; `state` is what the service
// last learned about it. Identity is the hostname; serial and MAC are how the network finds it.

export const ROLES = ['server', 'agent'] as const;
export const PLANS = ['install', 'local', 'discovered'] as const;
export const STATES = ['registered', 'discovered', 'installing', 'installed', 'booted', 'joined', 'failed'] as const;

export type Role = (typeof ROLES)[number];
export type Plan = (typeof PLANS)[number];
export type NodeState = (typeof STATES)[number];

export const hostnameSchema = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits, inner hyphens');
export const serialSchema = z
  .string()
  .transform((s) =>
    s
      .toLowerCase()
      .replace(/^0x/, '')
      .replace(/^0+(?=[0-9a-f]{8}$)/, ''),
  )
  .pipe(z.string().regex(/^[0-9a-f]{8}$/, 'must be the 8 hex digits the Pi firmware prints'));
export const macSchema = z
  .string()
  .transform((s) => s.toLowerCase().replaceAll('-', ':'))
  .pipe(z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, 'must be a MAC address like dc:a6:32:01:02:03'));
export const sshKeySchema = z.string().regex(/^(ssh-|ecdsa-|sk-)[\w@.-]+ [A-Za-z0-9+/=]+( [^\n]*)?$/, 'must be one OpenSSH public key line');

/** Partition names the installer would wait for in /sys/block in vain (sda1, mmcblk0p1, nvme0n1p2). */
const PARTITION_RE = /^((sd|vd|hd|xvd)[a-z]+[0-9]+|(mmcblk|nvme[0-9]+n|loop|nbd|md)[0-9]+p[0-9]+)$/;

/**
 * The installer's target disk, rendered as `kiln.disk=`. init.sh strips `/dev/` and takes the rest
 * only if /sys/block has it, so a whole-disk kernel name is all that works; and it lands on a
 * kernel command line, so nothing that could split or extend that line (spaces, quotes, `..`, `/`,
 * shell characters) gets through. Stored without `/dev/`, the shorter form on the 512-byte line.
 */
export const diskSchema = z
  .string()
  .transform((s) => s.replace(/^\/dev\//, ''))
  .pipe(
    z
      .string()
      .regex(
        /^[a-z][a-z0-9_-]{0,30}$/,
        'must be a block device name like mmcblk0, nvme0n1 or sda (optionally /dev/sda): lowercase letters, digits, - and _, at most 31 characters',
      )
      .refine((s) => !PARTITION_RE.test(s), 'is a partition: name the whole disk (mmcblk0, not mmcblk0p1; sda, not sda1)'),
  );

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
  /**
   * A `local` node that netboots anyway could not boot its disk: serve it the installer instead of
   * declining. Opt-in (absent means false): anyone on the LAN can send the PXE DISCOVER that
   * triggers it, so the installer must then prove with the old disk's credential that it is the
   * same node before it gets a new one.
   */
  selfHeal?: boolean;
  /** Why kiln stopped answering this node (e.g. three failed installs in a row); null when not parked. */
  parked?: string | null;
  /** The disk the installer writes (`kiln.disk=`, no `/dev/`); null: the installer picks the first SD, NVMe, USB, virtio disk. */
  disk?: string | null;
  /** Event id of the node's last registration or reprovision; its cloud-init instance-id derives from it. */
  provisionId?: number;
  /**
   * The board model id (serve/plan/board.ts: `pi4`, `pi5`, `cm4`, ..., `unknown` for a Pi that did
   * not say which) from the node's DHCP requests; null until one was seen.
   */
  model?: string | null;
  /** The revision code from option 97 (8 hex digits) the model was decoded from; null without one. */
  boardRevision?: string | null;
  /** The operator's lines appended to the config.txt kiln renders for this node (config-txt.ts); empty: none. */
  configTxt?: string[];
}

/** What a DHCP request says about a node's board (the registry's `model` and `board_revision`). */
export interface NodeBoard {
  model: string;
  boardRevision: string | null;
}

/** A node as first registered, knowing only its name: the defaults every other field starts from. */
export function blankNode(name: string): NodeRecord {
  return {
    name,
    serial: null,
    mac: null,
    role: 'agent',
    image: null,
    plan: 'install',
    state: 'registered',
    sshKeys: [],
    clusterInit: false,
    ip: null,
    lastSeen: null,
    source: 'db',
  };
}

/** Input to create or update a node (API body, CLI, nodes.yaml entry). */
export const nodeInputSchema = z
  .strictObject({
    name: hostnameSchema,
    serial: serialSchema.optional(),
    mac: macSchema.optional(),
    role: z.enum(ROLES).default('agent'),
    image: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, 'must be an image name from the images dir')
      .optional(),
    /** Absent: keep the current plan (new nodes start with `install`). */
    plan: z.enum(['install', 'local']).optional(),
    sshKeys: z.array(sshKeySchema).max(64).default([]),
    clusterInit: z.boolean().default(false),
    /** Reinstall by itself when it netboots with plan `local` (its disk did not boot). Absent: keep (new: false). */
    selfHeal: z.boolean().optional(),
    /** The installer's target disk. Absent: none (the installer picks), like `image`; so a re-add without it clears it. */
    disk: diskSchema.optional(),
  })
  .refine((n) => n.serial !== undefined || n.mac !== undefined, {
    message: 'a node needs a serial or a mac so the network can find it',
    path: ['serial'],
  });
export type NodeInput = z.infer<typeof nodeInputSchema>;

/**
 * Per-node settings the operator changes in place (PATCH /api/nodes/:name); an absent field is left
 * as it is, unlike nodeInputSchema, whose absent `disk` clears it.
 */
export const nodeSettingsSchema = z.strictObject({
  disk: diskSchema.nullable().optional(),
  selfHeal: z.boolean().optional(),
  configTxt: configTxtSchema.optional(),
});
export type NodeSettings = z.infer<typeof nodeSettingsSchema>;

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
  'first-boot-failed',
  'k3s-started',
  'k3s-joined',
  'self-heal',
  'parked',
  // The operator lifted a park without reprovisioning; the failure count starts again.
  'unparked',
  'registered',
  'updated',
  'reprovision',
  'removed',
  // The installer traded its install token for the node's credential.
  'enrolled',
  // Something only an attacker or a fault explains (an install token used twice, ...); data.kind says what.
  'alert',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface NodeEvent {
  id: number;
  node: string;
  type: EventType;
  at: string;
  data: Record<string, unknown>;
  /** The serving agent that wrote it (kiln serve --agent), when one did; null from the CLI or an older kiln. */
  agent?: string | null;
}

/** What a node may report about itself (POST /api/nodes/:name/events). */
export const nodeReportSchema = z.strictObject({
  type: z.enum(['install-started', 'install-progress', 'installed', 'install-failed', 'first-boot', 'first-boot-failed', 'k3s-started', 'k3s-joined']),
  progress: z.number().min(0).max(100).optional(),
  message: z.string().max(1000).optional(),
  /** The image's first-boot script names its note `detail`. */
  detail: z.string().max(1000).optional(),
  /** Installer progress: bytes written of the mapped total, and the rate so far. */
  bytes: z.number().int().nonnegative().optional(),
  total: z.number().int().nonnegative().optional(),
  bytesPerSecond: z.number().nonnegative().optional(),
  /** `installed`: the sha256 of the image written (as the installer was told and verified). */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  disk: z.string().max(64).optional(),
  attempt: z.number().int().min(1).max(1000).optional(),
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
    case 'first-boot-failed':
      return 'failed';
    case 'first-boot':
      return 'booted';
    case 'k3s-joined':
      return 'joined';
    default:
      return current;
  }
}

/**
 * The event types the install decisions (failedInARow, selfHealBlocked) look at. They are read from
 * the registry by type, never as "the last N events": DHCP chatter must not push them out of view.
 */
export const DECISION_EVENTS = [
  'install-failed',
  'installed',
  'reprovision',
  'registered',
  'unparked',
  'first-boot',
  'k3s-started',
  'k3s-joined',
] as const satisfies readonly EventType[];

/** Installs that may fail in a row before kiln parks the node and stops answering it. */
export const MAX_FAILED_INSTALLS = 3;

/**
 * Failed installs since the node's last success or operator action (pure, over its events in
 * order): the count that parks a node at MAX_FAILED_INSTALLS.
 */
export function failedInARow(events: readonly { type: EventType }[]): number {
  let n = 0;
  for (const e of events) {
    if (e.type === 'install-failed') n++;
    else if (e.type === 'installed' || e.type === 'reprovision' || e.type === 'registered' || e.type === 'unparked') n = 0;
  }
  return n;
}

/**
 * Whether a `local` node that netboots may be reinstalled by itself. Not when its last install
 * never reached a first boot: then the disk was written but does not boot, or the boot order puts
 * the network first, and reinstalling would loop.
 */
export function selfHealBlocked(events: readonly { type: EventType }[]): string | undefined {
  for (const { type: t } of [...events].reverse()) {
    if (t === 'first-boot' || t === 'k3s-started' || t === 'k3s-joined' || t === 'reprovision' || t === 'registered') return undefined;
    if (t === 'installed')
      return 'netbooted again after installing, with no first boot from its disk in between (disk not bootable, or BOOT_ORDER tries the network before the SD card)';
  }
  return undefined;
}
