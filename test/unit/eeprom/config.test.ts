import { describe, expect, it } from 'vitest';
import {
  applySteps,
  bootModes,
  MAX_CONFIG_BYTES,
  NETWORK_BOOT_ORDER,
  parseBoard,
  parseBootOrder,
  parseServer,
  renderEepromConfig,
} from '../../../src/eeprom/config.js';
import { EXIT } from '../../../src/util/errors.js';
import { refusal } from '../../helpers/refusal.js';

/** The KEY=value lines of a config, as rpi-eeprom-config and the bootloader read them. */
function settings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

describe('renderEepromConfig', () => {
  it.each(['pi4', 'pi5'] as const)('%s: setting names as the bootloader documentation spells them, network in BOOT_ORDER, MAC prefix', (board) => {
    const text = renderEepromConfig({ board });
    const s = settings(text);
    expect(Object.keys(s)).toEqual(['BOOT_UART', 'BOOT_ORDER', 'TFTP_PREFIX']);
    expect(s.BOOT_ORDER).toBe('0xf21');
    expect(bootModes(Number.parseInt(s.BOOT_ORDER ?? '', 16))).toContain(2);
    expect(s.TFTP_PREFIX).toBe('2');
    expect(s.BOOT_UART).toBe(board === 'pi5' ? '1' : '0');
  });

  it('is a valid rpi-eeprom-config file: [all] before any setting, every other line a whole-line comment, under the size limit', () => {
    for (const board of ['pi4', 'pi5'] as const) {
      const text = renderEepromConfig({ board, server: '192.168.1.10', bootOrder: 0xf261 });
      const lines = text.trimEnd().split('\n');
      const all = lines.indexOf('[all]');
      expect(all).toBeGreaterThanOrEqual(0);
      expect(lines.slice(0, all).every((l) => l.startsWith('#'))).toBe(true);
      for (const l of lines.slice(all + 1)) expect(l).toMatch(/^(#.*|[A-Z0-9_]+=[^\s#]+)$/);
      expect(text.endsWith('\n')).toBe(true);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_CONFIG_BYTES);
    }
  });

  it('writes TFTP_IP only with a server, and the chosen boot order', () => {
    expect(settings(renderEepromConfig({ board: 'pi5' })).TFTP_IP).toBeUndefined();
    const s = settings(renderEepromConfig({ board: 'pi5', server: '10.42.0.1', bootOrder: 0xf261 }));
    expect(s.TFTP_IP).toBe('10.42.0.1');
    expect(s.BOOT_ORDER).toBe('0xf261');
  });

  it('explains its choices in comments: the factory order, the prefix kiln serves, no HTTP boot; the Pi 5 loads no start4.elf', () => {
    const pi5 = renderEepromConfig({ board: 'pi5' });
    expect(pi5).toContain('factory order 0xf461');
    expect(pi5).toContain('<mac-with-dashes>/');
    expect(pi5).toContain('HTTP_HOST');
    expect(pi5).toContain('no start4.elf');
    const pi4 = renderEepromConfig({ board: 'pi4' });
    expect(pi4).toContain('factory order 0xf41');
    expect(pi4).not.toContain('no start4.elf');
    // HTTP boot is explained, never set
    expect(settings(pi4).HTTP_HOST).toBeUndefined();
  });
});

describe('parseBootOrder', () => {
  it('takes an order with the network after a disk, with or without 0x', () => {
    expect(parseBootOrder('0xf21', 'pi4')).toBe(NETWORK_BOOT_ORDER);
    expect(parseBootOrder('F241', 'pi5')).toBe(0xf241);
    expect(parseBootOrder('0xf261', 'pi5')).toBe(0xf261);
  });

  it.each([
    ['0xf41', 'never tries the network'],
    ['0xf461', 'never tries the network'],
    // the network after the restart is never reached
    ['0x2f1', 'never tries the network'],
    ['0xf12', 'network first'],
    ['0x2', 'network first'],
    ['0xf721', 'HTTP boot'],
    ['0xf291', 'boot mode 9'],
    ['0xg21', 'not a BOOT_ORDER'],
    ['0x123456789', 'not a BOOT_ORDER'],
    ['', 'not a BOOT_ORDER'],
  ])('refuses %s (%s), naming the flag, exit 2', (raw, why) => {
    const e = refusal(() => parseBootOrder(raw, 'pi4'));
    expect(e.message).toMatch(/^--boot-order: /);
    expect(e.message).toContain(why);
    expect(e.exitCode).toBe(EXIT.invalid);
  });

  it("refuses a mode the board's bootloader lacks: no BCM-USB-MSD (5) on a Pi 5", () => {
    expect(parseBootOrder('0xf251', 'pi4')).toBe(0xf251);
    expect(refusal(() => parseBootOrder('0xf251', 'pi5')).message).toContain('boot mode 5, which the pi5 bootloader does not have');
  });
});

describe('parseBoard, parseServer', () => {
  it('takes pi4 and pi5 and refuses others naming the flag', () => {
    expect(parseBoard('pi4')).toBe('pi4');
    expect(parseBoard('PI5')).toBe('pi5');
    for (const raw of ['pi3', 'cm4', '5', '']) {
      const e = refusal(() => parseBoard(raw));
      expect(e.message).toMatch(/^--board: /);
      expect(e.exitCode).toBe(EXIT.invalid);
    }
  });

  it('takes an IPv4 address for TFTP_IP only', () => {
    expect(parseServer('192.168.1.10')).toBe('192.168.1.10');
    for (const raw of ['kiln.lan', 'fe80::1', '192.168.1.300']) expect(refusal(() => parseServer(raw)).message).toMatch(/^--server: /);
  });
});

describe('applySteps', () => {
  it.each(['pi4', 'pi5'] as const)('%s: the running-OS route, the bootloader SD card route, and how to check', (board) => {
    const steps = applySteps(board, 'boot.conf');
    expect(steps).toContain('sudo rpi-eeprom-config --apply boot.conf');
    expect(steps).toContain('vcgencmd bootloader_config');
    expect(steps).toContain(`Bootloader (Pi ${board === 'pi5' ? 5 : 4} family)`);
    expect(steps).toContain('rpi-eeprom-config --config boot.conf --out');
  });
});
