// Whether kiln has ever seen a node's bootloader ask to netboot. Pure: the caller passes the node
// and its kept events. A Pi whose EEPROM boot order never tries the network (the factory setting
// of the Pi 4 and 5) cannot be reinstalled or self-heal from kiln, and nothing on the wire says so
// except that only its running system ever asks for an address.

import type { NodeEvent, NodeRecord } from '../nodes/model.js';
import { imageBoardOf } from './board.js';
import { isPxeVendorClass } from './dhcp.js';

/**
 * The DHCP events whose data says who asked: `vendorClass` PXEClient is a bootloader or U-Boot; any
 * other value, or none at all (systemd-networkd sends none), is a running system.
 */
const ASKING = new Set(['dhcp-seen', 'discovered']);

/**
 * A note when every DHCP request kept for the node came from a running system and none from its
 * bootloader; undefined when it netbooted, or when nothing says who asked.
 */
export function netbootNote(node: NodeRecord, events: readonly Pick<NodeEvent, 'type' | 'data'>[]): string | undefined {
  const asked = events.filter((e) => ASKING.has(e.type) && 'vendorClass' in e.data);
  if (asked.length === 0) return undefined;
  if (asked.some((e) => typeof e.data.vendorClass === 'string' && isPxeVendorClass(e.data.vendorClass))) return undefined;
  const board = node.model ? imageBoardOf(node.model) : undefined;
  const base = `never netbooted: its ${asked.length === 1 ? 'one DHCP request' : `${asked.length} DHCP requests`} on record came from a running system, none from its bootloader`;
  if (board === 'pi3') return `${base}; a Pi 3 netboots only when no card boots (a 3B also needs its one-time boot-mode bit set)`;
  return `${base}. If its EEPROM boot order has no network (the Pi 4 and 5 factory setting), kiln can neither reinstall it nor self-heal it: kiln eeprom --board pi4|pi5 prints the setting (docs/runbooks/reprovision-a-dead-pi.md)`;
}
