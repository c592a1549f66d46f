// Whether to answer a DHCP client, from what the registry knows of it. No I/O here, so every
// branch is unit-tested.
import type { ImageInfo } from '../images.js';
import { selfHealBlocked, type EventType, type NodeRecord } from '../nodes/model.js';

/** OUIs of Raspberry Pi Ltd / Foundation network interfaces. */
const PI_OUIS = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', 'd8:3a:dd', '28:cd:c1', '2c:cf:67', '88:a2:9e'];

export interface DhcpClient {
  mac: string;
  serial?: string;
  /** FourCC from option 97 (`RPi4`, `RPi5`), when present. */
  fourcc?: string;
  vendorClass?: string;
}

export function isRaspberryPi(c: DhcpClient): boolean {
  return c.fourcc !== undefined || PI_OUIS.some((o) => c.mac.startsWith(o));
}

export function isPxeClient(c: DhcpClient): boolean {
  return c.vendorClass?.startsWith('PXEClient') ?? false;
}

export type DhcpMode = 'proxy' | 'full';

export type DhcpDecision =
  | { action: 'serve'; node: NodeRecord; image: ImageInfo; menu: string }
  /** A `local` node netbooting: its disk did not boot. Switch it to `install`, say why, then serve. */
  | { action: 'heal'; node: NodeRecord; image: ImageInfo; menu: string; reason: string }
  /** Park the node: reinstalling it would loop. */
  | { action: 'park'; node: NodeRecord; reason: string }
  /** Full mode: an address for a `local` node's own system, no boot options. */
  | { action: 'lease'; node: NodeRecord; menu: string }
  | { action: 'discover'; reason: string }
  | { action: 'ignore'; reason: string; node?: NodeRecord };

/**
 * Found by the serial in option 97, which every Pi broadcasts: a packet that names a node's serial
 * with another MAC than the node's is not that node (made-up MACs would each take a pool address,
 * and each would count as the node being seen).
 */
export function claimsOtherMac(node: NodeRecord, client: DhcpClient): boolean {
  return node.mac !== null && node.mac !== client.mac.toLowerCase();
}

/**
 * Whether to answer a DHCP client. Only nodes whose plan is `install` and whose image exists get an
 * answer; a `local` node is declined so it boots its own disk, unless it netboots anyway (PXE) with
 * self-healing on; unknown Pis are only recorded.
 */
export function decideDhcp(
  node: NodeRecord | undefined,
  client: DhcpClient,
  image: ImageInfo | undefined,
  opts: { mode: DhcpMode; discovery: boolean },
  /** The node's recent events, oldest first (self-healing looks at its last install). */
  history: readonly { type: EventType }[] = [],
): DhcpDecision {
  if (!node) {
    if (isRaspberryPi(client) && opts.discovery) return { action: 'discover', reason: 'unknown Raspberry Pi' };
    return { action: 'ignore', reason: 'unknown client' };
  }
  if (node.plan === 'discovered') return { action: 'ignore', reason: 'discovered, not registered', node };
  if (claimsOtherMac(node, client)) return { action: 'ignore', reason: `mac mismatch: ${node.name} has another MAC`, node };
  if (node.parked) return { action: 'ignore', reason: `parked: ${node.parked}`, node };
  if (node.plan === 'local') {
    // The Pi ROM and U-Boot both say PXEClient; a booted system's DHCP client does not. With
    // BOOT_ORDER 0xf21 a Pi only netboots when its SD card did not boot.
    if (isPxeClient(client) && (node.selfHeal ?? false) && image) {
      const blocked = selfHealBlocked(history);
      if (blocked) return { action: 'park', node, reason: blocked };
      return { action: 'heal', node, image, menu: menuFor(client), reason: `plan local but netbooting (${client.vendorClass ?? 'PXE'}): its disk did not boot` };
    }
    if (opts.mode === 'full' && !isPxeClient(client)) return { action: 'lease', node, menu: menuFor(client) };
    return { action: 'ignore', reason: 'plan local: boots its own disk', node };
  }
  // A proxy must not answer ordinary DHCP clients of the home network, only netbooting ones.
  if (opts.mode === 'proxy' && !isPxeClient(client)) return { action: 'ignore', reason: 'not a PXE client', node };
  if (!image) return { action: 'ignore', reason: `image ${node.image ?? '(none)'} not found`, node };
  return { action: 'serve', node, image, menu: menuFor(client) };
}

/** Pi 3B ROM matches the menu string with three trailing spaces; Pi 4/5 send option 97. */
function menuFor(client: DhcpClient): string {
  return client.fourcc === undefined && !client.serial ? 'Raspberry Pi Boot   ' : 'Raspberry Pi Boot';
}
