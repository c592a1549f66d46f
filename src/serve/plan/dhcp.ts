// Whether to answer a DHCP client, and what the registry must record because it asked. No I/O
// here, so every branch is unit-tested; dhcp/apply.ts performs the effects, dhcp/server.ts sends.
import type { ImageInfo } from '../images.js';
import { selfHealBlocked, type EventType, type NodeBoard, type NodeRecord } from '../nodes/model.js';
import { boardModel } from './board.js';

/** OUIs of Raspberry Pi Ltd / Foundation network interfaces. */
const PI_OUIS = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', 'd8:3a:dd', '28:cd:c1', '2c:cf:67', '88:a2:9e'];

export interface DhcpClient {
  mac: string;
  serial?: string;
  /** FourCC from option 97 (`RPi4`, `RPi5`), when present. */
  fourcc?: string;
  /** The board revision code that follows the FourCC in option 97 (8 hex digits), when present. */
  boardRevision?: string;
  vendorClass?: string;
}

function hasPiOui(mac: string): boolean {
  return PI_OUIS.some((o) => mac.toLowerCase().startsWith(o));
}

export function isRaspberryPi(c: DhcpClient): boolean {
  return c.fourcc !== undefined || hasPiOui(c.mac);
}

/**
 * The board the client says it is (plan/board.ts): the model from option 97's revision code, else
 * `unknown` for a client that is only recognisably a Pi; undefined for any other client.
 */
export function clientBoard(c: DhcpClient): NodeBoard | undefined {
  const b = boardModel({ fourcc: c.fourcc, boardRevision: c.boardRevision, piOui: hasPiOui(c.mac) });
  return b && { model: b.model, boardRevision: b.boardRevision ?? null };
}

/** A Pi bootloader, a PXE ROM or U-Boot asks as `PXEClient…`; a running system's DHCP client does not. */
export function isPxeVendorClass(vendorClass: string | null | undefined): boolean {
  return vendorClass?.startsWith('PXEClient') ?? false;
}

export function isPxeClient(c: DhcpClient): boolean {
  return isPxeVendorClass(c.vendorClass);
}

export type DhcpMode = 'proxy' | 'full';

export interface DhcpPolicy {
  mode: DhcpMode;
  /** Record unknown Pis as `discovered` placeholders. */
  discovery: boolean;
}

/** What the decision knows of one DISCOVER or REQUEST; the server reads it from the packet and registry. */
export interface DhcpRequest {
  message: 'discover' | 'request';
  client: DhcpClient;
  /** The registered node the client is (by MAC, then by the serial in option 97). */
  node?: NodeRecord;
  /** The node's image, when it exists. */
  image?: ImageInfo;
  /** The node's install milestones, oldest first: self-healing looks at its last install. */
  history?: readonly { type: EventType }[];
}

/**
 * Why a client gets no answer. Each is also the `reason` label of kiln_dhcp_drops_total, which
 * dashboards and runbooks name, so the strings stay as they are.
 */
export const DHCP_DROP_REASONS = ['unknown-client', 'discovered', 'mac-mismatch', 'parked', 'plan-local', 'not-pxe', 'no-image'] as const;
export type DhcpDropReason = (typeof DHCP_DROP_REASONS)[number];

/**
 * A registry change a decision implies, as data: the decision stays pure and testable, and the
 * order here is the order of the event log.
 */
export type DhcpEffect =
  /** A DISCOVER named the node (the aggregated `dhcp-seen` event); `model` when option 97 had a revision code. */
  | { kind: 'seen'; node: string; mac: string; vendorClass: string | null; model?: string }
  /** The packet shows a MAC or serial the node was registered without. */
  | { kind: 'learn-identity'; node: string; mac: string; serial: string | undefined }
  /** The packet shows a board (model, revision code) other than the one the node has on record. */
  | { kind: 'learn-board'; node: string; board: NodeBoard }
  /** An unknown Pi: a `discovered` placeholder, within the registry's limits, with the board it says it is. */
  | { kind: 'record-discovered'; mac: string; serial: string | undefined; board: NodeBoard | undefined; vendorClass: string | null }
  /** Stop answering the node: reinstalling it would loop. */
  | { kind: 'park'; node: string; reason: string }
  /** A `local` node netboots: its disk did not boot; switch it to `install`. */
  | { kind: 'self-heal'; node: string; reason: string }
  /** Full mode: kiln acknowledged this address for the node. */
  | { kind: 'leased'; node: string; ip: string }
  /** A boot or lease answer went out (the aggregated `dhcp-offered` event). */
  | { kind: 'offered'; node: string; mac: string; mode: 'proxy' }
  | { kind: 'offered'; node: string; mac: string; mode: 'full'; ip: string };

export type DhcpDecision =
  /** Boot options (and, in full mode, an address); `self-heal` serves the installer to a `local` node. */
  | { answer: 'boot'; reason: 'plan-install' | 'self-heal'; node: NodeRecord; menu: string; pxe: boolean; effects: DhcpEffect[] }
  /** Full mode: an address for a `local` node's own system, no boot options. */
  | { answer: 'lease'; reason: 'plan-local'; node: NodeRecord; menu: string; effects: DhcpEffect[] }
  /** No answer; `detail` is the text for the log. */
  | { answer: 'none'; reason: DhcpDropReason; detail: string; effects: DhcpEffect[] };

/**
 * Found by the serial in option 97, which every Pi broadcasts: a packet that names a node's serial
 * with another MAC than the node's is not that node (made-up MACs would each take a pool address,
 * and each would count as the node being seen).
 */
function claimsOtherMac(node: NodeRecord, client: DhcpClient): boolean {
  return node.mac !== null && node.mac !== client.mac.toLowerCase();
}

/**
 * Whether to answer a DHCP client. Only nodes whose plan is `install` and whose image exists get an
 * answer; a `local` node is declined so it boots its own disk, unless it netboots anyway (PXE) with
 * self-healing on; unknown Pis are only recorded.
 */
export function decideDhcp(req: DhcpRequest, policy: DhcpPolicy): DhcpDecision {
  const { node, client, image, history = [] } = req;
  const none = (reason: DhcpDropReason, detail: string, effects: DhcpEffect[] = []): DhcpDecision => ({ answer: 'none', reason, detail, effects });
  if (!node) {
    if (!isRaspberryPi(client) || !policy.discovery) return none('unknown-client', 'unknown client');
    // A REQUEST follows a DISCOVER, which already recorded it.
    const record: DhcpEffect[] =
      req.message === 'discover'
        ? [{ kind: 'record-discovered', mac: client.mac, serial: client.serial, board: clientBoard(client), vendorClass: client.vendorClass ?? null }]
        : [];
    return none('discovered', 'unknown Raspberry Pi', record);
  }
  if (node.plan === 'discovered') return none('discovered', 'discovered, not registered');
  if (claimsOtherMac(node, client)) return none('mac-mismatch', `mac mismatch: ${node.name} has another MAC`);
  const seen = req.message === 'discover' ? seenEffects(node, client) : [];
  if (node.parked) return none('parked', `parked: ${node.parked}`, seen);
  const menu = menuFor(client);
  if (node.plan === 'local') {
    // The Pi ROM and U-Boot both say PXEClient; a booted system's DHCP client does not. With
    // BOOT_ORDER 0xf21 a Pi only netboots when its SD card did not boot.
    if (isPxeClient(client) && (node.selfHeal ?? false) && image) {
      const blocked = selfHealBlocked(history);
      if (blocked) return none('parked', blocked, [...seen, { kind: 'park', node: node.name, reason: blocked }]);
      const reason = `plan local but netbooting (${client.vendorClass ?? 'PXE'}): its disk did not boot`;
      return { answer: 'boot', reason: 'self-heal', node, menu, pxe: true, effects: [...seen, { kind: 'self-heal', node: node.name, reason }] };
    }
    if (policy.mode === 'full' && !isPxeClient(client)) return { answer: 'lease', reason: 'plan-local', node, menu, effects: seen };
    return none('plan-local', 'plan local: boots its own disk', seen);
  }
  // A proxy must not answer ordinary DHCP clients of the home network, only netbooting ones.
  if (policy.mode === 'proxy' && !isPxeClient(client)) return none('not-pxe', 'not a PXE client', seen);
  if (!image) return none('no-image', `image ${node.image ?? '(none)'} not found`, seen);
  return { answer: 'boot', reason: 'plan-install', node, menu, pxe: isPxeClient(client), effects: seen };
}

/**
 * The node was seen, and completes an identity it was registered without (a Pi registered by MAC
 * asks TFTP for `<serial>/…`), and records the board option 97's revision code names when that is
 * not what the node has on record (so not a write per DISCOVER; it differs e.g. when the node was
 * re-registered with another board's serial). A client without a revision code (the Pi 3 ROM, a
 * legacy option 97, U-Boot, the installed system's DHCP client) says nothing about the board.
 */
function seenEffects(node: NodeRecord, client: DhcpClient): DhcpEffect[] {
  const board = client.boardRevision === undefined ? undefined : clientBoard(client);
  const seen: DhcpEffect = { kind: 'seen', node: node.name, mac: client.mac, vendorClass: client.vendorClass ?? null };
  if (board) seen.model = board.model;
  const out: DhcpEffect[] = [seen];
  if (!node.mac || (!node.serial && client.serial)) out.push({ kind: 'learn-identity', node: node.name, mac: client.mac, serial: client.serial });
  if (board && ((node.model ?? null) !== board.model || (node.boardRevision ?? null) !== board.boardRevision)) {
    out.push({ kind: 'learn-board', node: node.name, board });
  }
  return out;
}

/**
 * What an answer that went out leaves in the registry. A proxy OFFER is the whole exchange; in
 * full mode only the ACK is, with the address it acknowledged.
 */
export function answeredEffects(node: string, mac: string, leased?: string): DhcpEffect[] {
  if (leased === undefined) return [{ kind: 'offered', node, mac, mode: 'proxy' }];
  return [
    { kind: 'leased', node, ip: leased },
    { kind: 'offered', node, mac, mode: 'full', ip: leased },
  ];
}

/** Pi 3B ROM matches the menu string with three trailing spaces; Pi 4/5 send option 97. */
function menuFor(client: DhcpClient): string {
  return client.fourcc === undefined && !client.serial ? 'Raspberry Pi Boot   ' : 'Raspberry Pi Boot';
}
