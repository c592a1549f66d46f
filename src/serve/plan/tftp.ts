// Which file a TFTP path names for which node: a file from the image, a rendered one, or a
// refusal. No I/O of its own (the lookup is given), so every branch is unit-tested.
import type { ImageInfo } from '../images.js';
import type { NodeRecord } from '../nodes/model.js';
import type { BootFile } from './bootfiles.js';
import { imageBoardOf } from './board.js';

export const MAX_TFTP_PATH = 255;

export type PathCheck = { ok: true; segments: string[] } | { ok: false; reason: string };

/** C0 controls, DEL or a backslash (a Windows separator some clients send). */
function hasControlOrBackslash(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x1f || c === 0x7f || c === 0x5c) return true;
  }
  return false;
}

/** Rejects anything that could leave the served roots or that no Pi or U-Boot would ask for. */
export function checkTftpPath(raw: string): PathCheck {
  if (raw.length === 0) return { ok: false, reason: 'empty path' };
  if (raw.length > MAX_TFTP_PATH) return { ok: false, reason: 'path too long' };
  if (hasControlOrBackslash(raw)) return { ok: false, reason: 'control character or backslash in path' };
  if (raw.startsWith('/')) return { ok: false, reason: 'absolute path' };
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return { ok: false, reason: 'parent directory in path' };
  if (segments.some((s) => s.startsWith('.'))) return { ok: false, reason: 'hidden file in path' };
  if (segments.length === 0) return { ok: false, reason: 'empty path' };
  return { ok: true, segments };
}

export interface TftpLookup {
  /** A node by TFTP prefix: Pi serial (8 hex digits) or MAC with dashes. */
  byPrefix(prefix: string): Promise<NodeRecord | undefined>;
  byIp(ip: string): Promise<NodeRecord | undefined>;
  imageOf(node: NodeRecord): ImageInfo | undefined;
  /** Image whose generic firmware answers prefix-less requests of unidentified Pis (Pi 3 ROM). */
  defaultImage(): ImageInfo | undefined;
}

export type TftpPlan =
  | { kind: 'file'; root: string; rel: string[]; node?: NodeRecord }
  /** A per-node file kiln writes itself (bootfiles.ts), once the server has what it needs, such as an install token. */
  | { kind: 'render'; file: BootFile; node: NodeRecord; image: ImageInfo }
  | { kind: 'refuse'; code: 'notfound' | 'denied'; reason: string };

type Refusal = Extract<TftpPlan, { kind: 'refuse' }>;

const SERIAL_RE = /^[0-9a-f]{8}$/;
const MAC_DASH_RE = /^([0-9a-f]{2}-){5}[0-9a-f]{2}$/;
/** Files a Pi ROM fetches without a prefix before it knows its own (Pi 3 family). */
const PREFIXLESS_FIRMWARE = new Set(['bootcode.bin']);

export async function planTftp(raw: string, clientIp: string, lookup: TftpLookup): Promise<TftpPlan> {
  const check = checkTftpPath(raw);
  if (!check.ok) return { kind: 'refuse', code: 'denied', reason: check.reason };
  const segs = check.segments;
  const first = segs[0] ?? '';

  if (first === 'pxelinux.cfg') {
    if (segs.length !== 2) return { kind: 'refuse', code: 'notfound', reason: 'no such pxelinux file' };
    const name = segs[1] ?? '';
    const s = served(await (name.startsWith('01-') ? lookup.byPrefix(name.slice(3).toLowerCase()) : lookup.byIp(clientIp)), lookup);
    return 'refused' in s ? s.refused : { kind: 'render', file: 'pxelinux.cfg', node: s.node, image: s.image };
  }

  const key = first.toLowerCase();
  if (segs.length > 1 && (SERIAL_RE.test(key) || MAC_DASH_RE.test(key))) return nodeFile(await lookup.byPrefix(key), segs.slice(1), lookup);

  // No prefix: a node we can recognise by address gets its own files, others only generic firmware.
  const byIp = await lookup.byIp(clientIp);
  if (byIp && byIp.plan === 'install') return nodeFile(byIp, segs, lookup);
  const dflt = lookup.defaultImage();
  if (segs.length === 1 && PREFIXLESS_FIRMWARE.has(first) && dflt) return { kind: 'file', root: dflt.bootDir, rel: segs };
  return { kind: 'refuse', code: 'notfound', reason: 'not a node path' };
}

/**
 * A node gets boot files only while it is to be installed, not parked (reinstalling would loop),
 * and its image exists.
 */
function served(node: NodeRecord | undefined, lookup: TftpLookup): { node: NodeRecord; image: ImageInfo } | { refused: Refusal } {
  const refuse = (reason: string): { refused: Refusal } => ({ refused: { kind: 'refuse', code: 'notfound', reason } });
  if (!node) return refuse('unknown node');
  if (node.plan !== 'install') return refuse(`plan ${node.plan}`);
  if (node.parked) return refuse(`parked: ${node.parked}`);
  const image = lookup.imageOf(node);
  if (!image) return refuse('image not found');
  // A board the image was not built for would fetch a kernel never checked against it and hang
  // silently; refusing it as denied puts the reason in kiln's log (not-found probes stay at debug).
  const board = node.model ? imageBoardOf(node.model) : undefined;
  const boards = image.manifest.boards;
  if (board && boards && !boards.includes(board)) {
    return { refused: { kind: 'refuse', code: 'denied', reason: `image ${image.name} targets ${boards.join(', ')}, not this ${node.model}` } };
  }
  return { node, image };
}

function nodeFile(found: NodeRecord | undefined, rest: string[], lookup: TftpLookup): TftpPlan {
  const s = served(found, lookup);
  if ('refused' in s) return s.refused;
  const { node, image } = s;
  const path = rest.join('/');
  if (path === 'boot.scr.uimg' || path === 'boot.scr') return { kind: 'render', file: 'boot.scr', node, image };
  if (path === 'config.txt' || path === 'cmdline.txt') return { kind: 'render', file: path, node, image };
  if (rest[0] === 'installer') {
    if (!image.installerDir) return { kind: 'refuse', code: 'notfound', reason: 'image has no installer' };
    return { kind: 'file', root: image.installerDir, rel: rest.slice(1), node };
  }
  return { kind: 'file', root: image.bootDir, rel: rest, node };
}
