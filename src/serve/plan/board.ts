// Which Raspberry Pi a DHCP client is, from what its option 97 says. Pure: the DHCP decision calls
// it, the CLI uses it to print a node's board.
//
// The bit fields and the type table are those of the Raspberry Pi documentation page "Raspberry Pi
// revision codes" (section "New-style revision codes": NOQuuuWuFMMMCCCCPPPPTTTTTTTTRRRR), the
// names those of its device tree table ("Check Raspberry Pi model and CPU across distributions").
// That page asks to check bit 23 (new style) first and then to decide by the type field, never by
// a list of whole codes (every new board revision or factory makes a new code): so does this.
//
// The Pi 4/5 bootloader's option 97 carries a FourCC, then the revision code (page "Raspberry Pi 4
// bootloader configuration", DHCP_OPTION97: the FourCC for RPi4, the board revision e.g.
// 0x00c03111). The legacy format (DHCP_OPTION97=0: the serial four times) and the Pi 3's boot ROM
// carry no revision: then nothing but "a Raspberry Pi" is known, from its MAC's OUI at best.

import type { BoardName } from '../../boards/catalog.js';

/** Short model ids, one per board type of the revision-code table (`unknown` when none is known). */
export const BOARD_MODELS = [
  'pi1a',
  'pi1b',
  'pi1a+',
  'pi1b+',
  'pi2',
  'cm1',
  'pi3',
  'pi0',
  'cm3',
  'pi0w',
  'pi3b+',
  'pi3a+',
  'cm3+',
  'pi4',
  'pi02',
  'pi400',
  'cm4',
  'cm4s',
  'pi5',
  'cm5',
  'pi500',
  'cm5lite',
  'cm0',
  'unknown',
] as const;
export type BoardModelId = (typeof BOARD_MODELS)[number];

/** Type field (bits 4-11) → model id and name. Codes the page lists as internal or alpha are left out. */
const TYPES: ReadonlyMap<number, readonly [BoardModelId, string]> = new Map([
  [0x00, ['pi1a', 'Raspberry Pi Model A']],
  [0x01, ['pi1b', 'Raspberry Pi Model B']],
  [0x02, ['pi1a+', 'Raspberry Pi Model A+']],
  [0x03, ['pi1b+', 'Raspberry Pi Model B+']],
  [0x04, ['pi2', 'Raspberry Pi 2 Model B']],
  [0x06, ['cm1', 'Compute Module 1']],
  [0x08, ['pi3', 'Raspberry Pi 3 Model B']],
  [0x09, ['pi0', 'Raspberry Pi Zero']],
  [0x0a, ['cm3', 'Compute Module 3']],
  [0x0c, ['pi0w', 'Raspberry Pi Zero W']],
  [0x0d, ['pi3b+', 'Raspberry Pi 3 Model B+']],
  [0x0e, ['pi3a+', 'Raspberry Pi 3 Model A+']],
  [0x10, ['cm3+', 'Compute Module 3+']],
  [0x11, ['pi4', 'Raspberry Pi 4 Model B']],
  [0x12, ['pi02', 'Raspberry Pi Zero 2 W']],
  [0x13, ['pi400', 'Raspberry Pi 400']],
  [0x14, ['cm4', 'Compute Module 4']],
  [0x15, ['cm4s', 'Compute Module 4S']],
  [0x17, ['pi5', 'Raspberry Pi 5']],
  [0x18, ['cm5', 'Compute Module 5']],
  // One type code for both: the page lists the 16 GB board of this type as the 500+.
  [0x19, ['pi500', 'Raspberry Pi 500/500+']],
  [0x1a, ['cm5lite', 'Compute Module 5 Lite']],
  [0x1b, ['cm0', 'CM0']],
]);

/** Processor field (bits 12-15). */
const SOCS = ['BCM2835', 'BCM2836', 'BCM2837', 'BCM2711', 'BCM2712'] as const;

/** Memory size field (bits 20-22); 7 is "other" (the firmware knows the size, the code does not). */
const MEMORY = ['256MB', '512MB', '1GB', '2GB', '4GB', '8GB', '16GB'] as const;

/** Manufacturer field (bits 16-19). */
const MAKERS = ['Sony UK', 'Egoman', 'Embest', 'Sony Japan', 'Embest', 'Stadium'] as const;

const NEW_STYLE = 1 << 23;

export interface BoardModel {
  model: BoardModelId;
  /** The board's name, e.g. "Raspberry Pi 4 Model B"; "Raspberry Pi" when only that is known. */
  name: string;
  /** Only what the revision code says; absent when it does not (or there is none). */
  memory?: string;
  soc?: string;
  /** Board revision, e.g. "1.4" for a 4B whose code ends in 4. */
  revision?: string;
  manufacturer?: string;
  /** The raw code as option 97 carried it (8 hex digits), when there was one. */
  boardRevision?: string;
  /**
   * Where the answer came from: the revision code is authoritative; a FourCC without a code this
   * table knows, or a MAC OUI, only says "a Raspberry Pi".
   */
  source: 'revision' | 'fourcc' | 'oui';
}

/**
 * Decodes a new-style revision code (hex, as /proc/cpuinfo or option 97 has it). Undefined for an
 * old-style code (bit 23 clear: Pi 1 era, and not sent in option 97) or text that is not hex.
 */
export function decodeRevision(code: string): BoardModel | undefined {
  if (!/^[0-9a-fA-F]{1,8}$/.test(code)) return undefined;
  const n = Number.parseInt(code, 16);
  if ((n & NEW_STYLE) === 0) return undefined;
  const type = TYPES.get((n >>> 4) & 0xff);
  const board: BoardModel = {
    model: type?.[0] ?? 'unknown',
    name: type?.[1] ?? `Raspberry Pi (type 0x${((n >>> 4) & 0xff).toString(16).padStart(2, '0')})`,
    revision: `1.${n & 0xf}`,
    boardRevision: code.toLowerCase().padStart(8, '0'),
    source: 'revision',
  };
  const memory = MEMORY[(n >>> 20) & 0x7];
  const soc = SOCS[(n >>> 12) & 0xf];
  const maker = MAKERS[(n >>> 16) & 0xf];
  if (memory) board.memory = memory;
  if (soc) board.soc = soc;
  if (maker) board.manufacturer = maker;
  return board;
}

/** What a DHCP client tells about its board: option 97's FourCC and revision, and its MAC. */
export interface BoardHint {
  fourcc?: string;
  boardRevision?: string;
  /** Whether the MAC has a Raspberry Pi OUI (the only hint a Pi 3 ROM or a legacy option 97 gives). */
  piOui?: boolean;
}

/**
 * The board a DHCP client is, as far as it says: from option 97's revision code when it has one,
 * else only "a Raspberry Pi" (a Pi OUI or any FourCC); undefined when nothing says it is a Pi.
 */
export function boardModel(h: BoardHint): BoardModel | undefined {
  const decoded = h.boardRevision === undefined ? undefined : decodeRevision(h.boardRevision);
  if (decoded) return decoded;
  if (h.fourcc === undefined && !h.piOui) return undefined;
  const unknown: BoardModel = { model: 'unknown', name: 'Raspberry Pi', source: h.fourcc === undefined ? 'oui' : 'fourcc' };
  if (h.boardRevision !== undefined) unknown.boardRevision = h.boardRevision.toLowerCase();
  return unknown;
}

/** The image board (src/boards/catalog.ts) that boots each model; the others (Pi 1, 2, Zero) have none. */
const IMAGE_BOARD: ReadonlyMap<string, BoardName> = new Map<BoardModelId, BoardName>([
  ['pi3', 'pi3'],
  ['pi3b+', 'pi3'],
  ['pi3a+', 'pi3'],
  ['cm3', 'pi3'],
  ['cm3+', 'pi3'],
  ['pi02', 'pi3'],
  ['pi4', 'pi4'],
  ['pi400', 'pi4'],
  ['cm4', 'pi4'],
  ['cm4s', 'pi4'],
  ['pi5', 'pi5'],
  ['pi500', 'pi5'],
  ['cm5', 'pi5'],
  ['cm5lite', 'pi5'],
]);

/** Which of an image's `boards` a node of this model (a registry `model`) boots as; undefined when none. */
export function imageBoardOf(model: string): BoardName | undefined {
  return IMAGE_BOARD.get(model);
}
