// The bootloader settings a Pi 4 or Pi 5 needs before it netboots from kiln, as an
// rpi-eeprom-config file, and the steps to put them in its EEPROM. Pure text: the CLI prints it.
//
// Sources (Raspberry Pi's documentation and github.com/raspberrypi/rpi-eeprom):
// - "Raspberry Pi bootloader configuration" (eeprom-bootloader.adoc): BOOT_ORDER nibbles, read right
//   to left; 0xf41 is the order used when BOOT_ORDER is empty; TFTP_PREFIX 0/1/2; TFTP_IP;
//   DHCP_OPTION97; HTTP_HOST/HTTP_PATH.
// - rpi-eeprom imager/2711-config and 2712-config: the factory configs (Pi 4: no BOOT_ORDER, so
//   0xf41; Pi 5: 0xf461, BOOT_UART=1) and the "Network boot" presets (BOOT_ORDER=0xf21).
// - "EEPROM boot flow" (bootflow-eeprom.adoc): the Pi 5 bootloader embeds start.elf and loads the
//   kernel itself.
// - "HTTP boot" (boot-http.adoc): HTTP boot fetches a signed boot.img/boot.sig.
import { isIPv4 } from 'node:net';
import { KilnError } from '../util/errors.js';

export const BOARDS = ['pi4', 'pi5'] as const;
export type Board = (typeof BOARDS)[number];

/**
 * rpi-eeprom-config refuses a config over 4076 bytes (a 4 KiB flash page less the file header);
 * the comments count, so the rendered file is tested against it.
 */
export const MAX_CONFIG_BYTES = 4076;

/** Raspberry Pi's own "Network boot" preset: SD card first, then the network, then start again. */
export const NETWORK_BOOT_ORDER = 0xf21;

interface BoardInfo {
  title: string;
  /** Factory BOOT_ORDER: what the Pi does before anyone changes it (no network in it). */
  factoryBootOrder: number;
  /** BOOT_UART in the factory config; kept because --apply replaces the whole config. */
  bootUart: 0 | 1;
  /** Boot modes this bootloader knows (BOOT_ORDER nibbles). */
  modes: ReadonlySet<number>;
}

/** Boot modes by their BOOT_ORDER hex digit. */
const MODE_NAMES: Record<string, string> = {
  0: 'SD card (wait for card change)',
  1: 'SD card',
  2: 'network',
  3: 'RPIBOOT (USB device mode)',
  4: 'USB mass storage',
  5: 'USB 2.0 from the Type C socket',
  6: 'NVMe',
  7: 'HTTP',
  e: 'stop',
  f: 'start again',
};

export const BOARD_INFO: Record<Board, BoardInfo> = {
  // Pi 4, Pi 400 and CM4 share the BCM2711 bootloader; NVMe (6) is for the CM4.
  pi4: { title: 'Raspberry Pi 4 (also Pi 400, CM4)', factoryBootOrder: 0xf41, bootUart: 0, modes: new Set([0, 1, 2, 3, 4, 5, 6, 7, 0xe, 0xf]) },
  // No BCM-USB-MSD (5) on the Pi 5.
  pi5: { title: 'Raspberry Pi 5 (also Pi 500, CM5)', factoryBootOrder: 0xf461, bootUart: 1, modes: new Set([0, 1, 2, 3, 4, 6, 7, 0xe, 0xf]) },
};

export function parseBoard(raw: string): Board {
  const b = raw.trim().toLowerCase();
  if ((BOARDS as readonly string[]).includes(b)) return b as Board;
  throw new KilnError(`--board: ${JSON.stringify(raw)} is not a board kiln knows; use ${BOARDS.join(' or ')}`, {
    hint: 'pi4 covers Pi 4, Pi 400 and CM4; pi5 covers Pi 5, Pi 500 and CM5',
  });
}

/** The modes a BOOT_ORDER tries, in order: nibbles from the right up to and including the first stop or restart. */
export function bootModes(order: number): number[] {
  const out: number[] = [];
  for (let v = order; v !== 0 || out.length === 0; v = Math.floor(v / 16)) {
    const m = v % 16;
    out.push(m);
    if (m === 0xe || m === 0xf || out.length === 8) break;
  }
  return out;
}

export function hex(order: number): string {
  return `0x${order.toString(16)}`;
}

/** `a, then b, then c`, each mode with its nibble, for comments and messages. */
export function describeBootOrder(order: number): string {
  return bootModes(order)
    .map((m) => `${MODE_NAMES[m.toString(16)] ?? 'unknown'} (${m.toString(16)})`)
    .join(', then ');
}

/**
 * A BOOT_ORDER for a Pi that kiln can reinstall: up to eight hex digits, every mode one this
 * board's bootloader knows, the network among the modes tried, and not first.
 */
export function parseBootOrder(raw: string, board: Board): number {
  const s = raw.trim().toLowerCase();
  const m = /^(?:0x)?([0-9a-f]{1,8})$/.exec(s);
  if (!m?.[1]) throw new KilnError(`--boot-order: ${JSON.stringify(raw)} is not a BOOT_ORDER; give up to 8 hex digits, e.g. ${hex(NETWORK_BOOT_ORDER)}`);
  const order = Number.parseInt(m[1], 16);
  const modes = bootModes(order);
  const info = BOARD_INFO[board];
  const unknown = modes.find((x) => !info.modes.has(x));
  if (unknown !== undefined) {
    throw new KilnError(`--boot-order: ${hex(order)} has boot mode ${unknown.toString(16)}, which the ${board} bootloader does not have`, {
      hint: 'modes: 1 SD card, 2 network, 4 USB mass storage, 6 NVMe, f start again (read right to left)',
    });
  }
  if (modes.includes(0x7)) {
    throw new KilnError(`--boot-order: ${hex(order)} has HTTP boot (7), which kiln does not serve`, {
      hint: 'HTTP boot fetches a signed boot.img and boot.sig; kiln serves the network boot (2) over TFTP',
    });
  }
  if (!modes.includes(0x2)) {
    throw new KilnError(`--boot-order: ${hex(order)} never tries the network (${describeBootOrder(order)}), so the Pi never netboots from kiln`, {
      hint: `add the network (2) after the disk, e.g. ${hex(NETWORK_BOOT_ORDER)}`,
    });
  }
  if (modes[0] === 0x2) {
    throw new KilnError(`--boot-order: ${hex(order)} tries the network first, so the Pi netboots at every power-on`, {
      hint: `kiln parks a node that netboots right after its install; put the disk first, e.g. ${hex(NETWORK_BOOT_ORDER)} (SD), 0xf241 (USB), 0xf261 (NVMe)`,
    });
  }
  return order;
}

export function parseServer(raw: string): string {
  if (isIPv4(raw)) return raw;
  throw new KilnError(`--server: ${JSON.stringify(raw)} is not an IPv4 address; TFTP_IP takes a dotted decimal address such as 192.168.1.10`);
}

export interface EepromRequest {
  board: Board;
  /** Defaults to NETWORK_BOOT_ORDER. */
  bootOrder?: number;
  /** kiln's address, written as TFTP_IP. */
  server?: string;
}

/**
 * The rpi-eeprom-config file. Comments stand on lines of their own: like config.txt, the
 * bootloader config has no comments after a value.
 */
export function renderEepromConfig(req: EepromRequest): string {
  const info = BOARD_INFO[req.board];
  const order = req.bootOrder ?? NETWORK_BOOT_ORDER;
  const lines = [
    `# ${info.title} bootloader configuration for netbooting from kiln serve.`,
    `# Made by \`kiln eeprom --board ${req.board}\`. Apply it with \`sudo rpi-eeprom-config --apply <this file>\` and a reboot (\`kiln eeprom --board ${req.board} --steps\` has the other ways).`,
    '# --apply replaces the whole EEPROM configuration with this file: a setting not written here takes its documented default.',
    '[all]',
    `# As in Raspberry Pi's factory configuration for this board. 1 prints the bootloader's log (DHCP, TFTP) on GPIO 14/15 at 115200 baud, the first place to look when a netboot fails.`,
    `BOOT_UART=${info.bootUart}`,
    `# Boot order, read right to left: ${describeBootOrder(order)}.`,
    `# The factory order ${hex(info.factoryBootOrder)} (${describeBootOrder(info.factoryBootOrder)}) never tries the network: the Pi does not netboot until this is set.`,
    '# The disk comes first so a healthy Pi boots it; only when the disk fails does the Pi ask kiln. Never put the network first: kiln parks a node that netboots right after its install. Boot disk on USB: 0xf241; on NVMe: 0xf261.',
    `BOOT_ORDER=${hex(order)}`,
    '# TFTP directory: 0 = serial number (the default), 1 = TFTP_PREFIX_STR, 2 = MAC address (dc-a6-32-01-36-c2/).',
    "# kiln serves both <serial>/ and <mac-with-dashes>/; the MAC is the one it always knows, from the Pi's own DHCP packet, while the serial comes from option 97, whose byte order kiln infers. A fixed string (1) would give every Pi the same files.",
    'TFTP_PREFIX=2',
    '# DHCP_OPTION97 stays at its default (board FourCC, board revision, MAC, serial): kiln reads the board and the serial from it.',
  ];
  if (req.board === 'pi5') {
    lines.push('# The Pi 5 bootloader carries the firmware (start.elf) itself and loads the kernel over TFTP: no start4.elf is fetched, unlike a Pi 4.');
  }
  if (req.server) {
    lines.push(
      "# kiln's address, used instead of the TFTP server named in the DHCP answer. Only needed when that answer does not name kiln; kiln's own DHCP answer (proxy or full mode) does.",
      `TFTP_IP=${req.server}`,
    );
  }
  lines.push(
    '# HTTP boot (BOOT_ORDER mode 7, HTTP_HOST, HTTP_PATH) is left out: it fetches a boot.img signed with a key in the EEPROM, which kiln does not serve.',
  );
  return `${lines.join('\n')}\n`;
}

/** How to put the file in the Pi's EEPROM and check it took, for a person at the Pi. */
export function applySteps(board: Board, file = 'kiln-eeprom.conf'): string {
  const info = BOARD_INFO[board];
  const family = board === 'pi5' ? 'Raspberry Pi 5' : 'Raspberry Pi 4';
  return `${[
    `Apply ${file} to a ${info.title}:`,
    '',
    'A. The Pi runs Raspberry Pi OS (package rpi-eeprom):',
    `  1. copy ${file} to it, then: sudo rpi-eeprom-config --apply ${file}`,
    '  2. sudo reboot   (the EEPROM is written during this reboot)',
    '  3. check: vcgencmd bootloader_config   (shows BOOT_ORDER and TFTP_PREFIX as written)',
    '',
    'B. No OS to run it from: a bootloader SD card made with Raspberry Pi Imager',
    `  1. Imager: device ${family}, OS "Misc utility images" > "Bootloader (${family.replace('Raspberry ', '')} family)" > "Network Boot"; write a spare SD card.`,
    `     That card sets BOOT_ORDER=${hex(NETWORK_BOOT_ORDER)} but leaves TFTP_PREFIX at 0 (serial): kiln serves that too once it knows the Pi's serial.`,
    `     To write ${file} instead, on any Linux machine with a checkout of github.com/raspberrypi/rpi-eeprom, in the card's root:`,
    `       rpi-eeprom-config --config ${file} --out pieeprom.new pieeprom.bin && mv pieeprom.new pieeprom.bin`,
    '       rpi-eeprom-digest -i pieeprom.bin -o pieeprom.sig',
    '  2. Power the Pi off, insert the card, power on, wait at least 10 s: the green LED flashing fast (a green screen on HDMI) means it is written.',
    '  3. Power off, take the card out (reformat it before other use).',
    '',
    'Then: register the Pi (kiln node add <name> --mac <mac> or --serial <serial>) and pull its disk or power-cycle it;',
    '`kiln node show <name>` lists dhcp-seen with vendor class PXEClient when its bootloader asks the network.',
  ].join('\n')}\n`;
}
