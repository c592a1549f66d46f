// DHCP option codes and the typed readers/writers kiln needs. Pure.
import type { DhcpPacket } from './codec.js';
import { ipToBytes } from './codec.js';
import { KilnError } from '../../util/errors.js';

export const OPT = {
  subnetMask: 1,
  router: 3,
  dns: 6,
  hostname: 12,
  vendorSpecific: 43,
  requestedIp: 50,
  leaseTime: 51,
  messageType: 53,
  serverId: 54,
  paramRequestList: 55,
  renewalTime: 58,
  rebindingTime: 59,
  vendorClass: 60,
  clientId: 61,
  tftpServerName: 66,
  bootfileName: 67,
  clientArch: 93,
  clientNdi: 94,
  clientGuid: 97,
} as const;

export const MSG = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export function messageType(p: DhcpPacket): number | undefined {
  const v = p.options.get(OPT.messageType);
  return v && v.length === 1 ? v[0] : undefined;
}

export function vendorClass(p: DhcpPacket): string | undefined {
  return p.options.get(OPT.vendorClass)?.toString('latin1');
}

/** Option 93: a list of 16-bit client architecture types (0 = x86 BIOS, which the Pi also sends). */
export function clientArches(p: DhcpPacket): number[] {
  const v = p.options.get(OPT.clientArch);
  if (!v || v.length % 2 !== 0) return [];
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
  return out;
}

export function requestedIp(p: DhcpPacket): string | undefined {
  const v = p.options.get(OPT.requestedIp);
  return v && v.length === 4 ? `${v[0]}.${v[1]}.${v[2]}.${v[3]}` : undefined;
}

export function serverId(p: DhcpPacket): string | undefined {
  const v = p.options.get(OPT.serverId);
  return v && v.length === 4 ? `${v[0]}.${v[1]}.${v[2]}.${v[3]}` : undefined;
}

export interface PiGuid {
  /** `RPi4`, `RPi5`, or undefined for the legacy format (serial repeated four times). */
  fourcc?: string;
  boardRevision?: string;
  /** Serial as the firmware prints it: 8 lowercase hex digits. */
  serial: string;
}

/**
 * Decodes a Raspberry Pi option 97: type byte 0 + 16 bytes. Default format (Pi 4/5 EEPROM):
 * FourCC, board revision, low MAC bytes, serial, each 4 bytes. Legacy (DHCP_OPTION97=0): the serial
 * four times. The firmware stores 32-bit words little-endian (the docs quote the FourCC 'RPi4' as
 * 0x34695052), so revision and serial are read little-endian.
 */
export function decodePiGuid(p: DhcpPacket): PiGuid | undefined {
  const v = p.options.get(OPT.clientGuid);
  if (v?.length !== 17 || v[0] !== 0) return undefined;
  const g = v.subarray(1);
  const hex = (o: number): string => g.readUInt32LE(o).toString(16).padStart(8, '0');
  const fourcc = g.subarray(0, 4).toString('latin1');
  if (/^RPi[0-9]$/.test(fourcc)) return { fourcc, boardRevision: hex(4), serial: hex(12) };
  const w0 = g.subarray(0, 4);
  if ([4, 8, 12].every((o) => g.subarray(o, o + 4).equals(w0))) return { serial: hex(0) };
  return undefined;
}

/** Builds the option 97 a Pi 4/5 sends (used by tests and the crafted-client probe). */
export function encodePiGuid(fourcc: string, boardRevision: number, mac: string, serial: string): Buffer {
  const g = Buffer.alloc(17);
  g[0] = 0;
  Buffer.from(fourcc, 'latin1').copy(g, 1);
  g.writeUInt32LE(boardRevision >>> 0, 5);
  const macBytes = Buffer.from(mac.replaceAll(':', ''), 'hex');
  macBytes.subarray(2, 6).copy(g, 9);
  g.writeUInt32LE(parseInt(serial, 16) >>> 0, 13);
  return g;
}

export const PI_BOOT_MENU = 'Raspberry Pi Boot';

/**
 * Option 43 PXE vendor sub-options as the Pi bootloader wants them (matches dnsmasq's
 * `pxe-service=0,"Raspberry Pi Boot"`): discovery control 3, menu prompt "PXE" with timeout 0,
 * one boot-menu item of type 0 carrying the menu string.
 */
export function pxeVendorOptions(menu: string): Buffer {
  const text = Buffer.from(menu, 'latin1');
  if (text.length > 250) throw new KilnError('PXE menu string too long');
  return Buffer.concat([
    Buffer.from([6, 1, 3]),
    Buffer.from([10, 4, 0]),
    Buffer.from('PXE', 'latin1'),
    Buffer.from([9, text.length + 3, 0, 0, text.length]),
    text,
    Buffer.from([255]),
  ]);
}

export function ipOption(ip: string): Buffer {
  return ipToBytes(ip);
}

export function u32Option(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
