// The shapes of kiln serve's JSON API as its clients see them: the routes return these, and the web
// dashboard (web/) imports them, so one change of shape is one type error on both sides.

import type { NodeEvent, NodeRecord, Role } from '../nodes/model.js';

export type { NodeEvent, NodeRecord, Role };

/** The last install progress reported by a node that is installing now. */
export interface InstallProgress {
  /** 0–100, from the report's `progress`, or bytes/total when only those came. */
  percent: number;
  bytes?: number;
  total?: number;
  bytesPerSecond?: number;
  at: string;
}

/** GET /api/nodes */
export interface NodesResponse {
  nodes: NodeRecord[];
  /** By node name, for nodes whose state is `installing` and which reported progress. */
  progress: Record<string, InstallProgress>;
  /** The newest event id when the list was read: GET /api/stream?after= this misses nothing. */
  lastEventId: number;
}

/** GET /api/nodes/:name */
export interface NodeResponse {
  node: NodeRecord;
  /** The node's kept events, oldest first (at most 100: the newest). */
  events: NodeEvent[];
  /** Set when the node never netbooted (serve/plan/netboot-note.ts). */
  netboot?: string;
  progress?: InstallProgress;
}

/** GET /api/events */
export interface EventPage {
  events: NodeEvent[];
  next: number;
  more: boolean;
}

/** Whether the image's bytes still match its manifest, as `kiln verify` checks them. */
export interface VerifyStatus {
  state: 'unchecked' | 'running' | 'ok' | 'failed';
  checkedAt?: string;
  /** Failure: what did not match. */
  message?: string;
}

/** One build kiln serves (GET /api/images). */
export interface ImageSummary {
  name: string;
  sha256: string;
  size: number;
  diskId: string;
  installer: boolean;
  /** ISO time of the build's SOURCE_DATE_EPOCH. */
  builtAt: string;
  packageCount: number;
  boards: string[];
  /** URLs of the image files under /images. */
  files: Record<string, string>;
  verify: VerifyStatus;
  /** The image a node without one of its own is served (--default-image, or the only image). */
  isDefault: boolean;
}

/** GET /api/images */
export interface ImagesResponse {
  images: ImageSummary[];
}

/** GET /api/images/:name: the summary, the whole manifest, and the SBOM when the build wrote one. */
export interface ImageDetail {
  image: ImageSummary;
  manifest: unknown;
  sbom: unknown | null;
}

/** POST /api/session (body SessionRequest) and GET /api/session. */
export interface SessionRequest {
  token: string;
}
export interface SessionResponse {
  /** Send back as the X-CSRF-Token header on every state-changing request made with the cookie. */
  csrf: string;
  expiresAt: string;
}

/** One message of GET /api/stream (server-sent events, `event: node-event`). */
export interface StreamMessage {
  event: NodeEvent;
  /** The node as it is after the event; null once it is removed. */
  node: NodeRecord | null;
  progress?: InstallProgress;
}

/** PATCH /api/nodes/:name: per-node settings; an absent field is left as it is. */
export interface NodeSettingsInput {
  /** Whole-disk name (mmcblk0, nvme0n1, sda); null: the installer picks. */
  disk?: string | null;
  selfHeal?: boolean;
  /** Lines appended to the node's config.txt, after the image's own (e.g. `dtoverlay=disable-wifi`). */
  configTxt?: string[];
}

/** POST /api/nodes/:name/approve: register a discovered Pi under a name of the operator's. */
export interface ApproveInput {
  name: string;
  role?: Role;
  image?: string;
}

/** POST /api/nodes/:name/park */
export interface ParkInput {
  reason?: string;
}

/** Every refusal's body. */
export interface ApiError {
  error: string;
}
