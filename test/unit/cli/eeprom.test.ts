import { describe, expect, it } from 'vitest';
import { EXIT, KilnError } from '../../../src/util/errors.js';
import { kiln } from '../../helpers/cli.js';

describe('kiln eeprom', () => {
  it.each(['pi4', 'pi5'])('--board %s prints the config on stdout and the steps on stderr', async (board) => {
    const r = await kiln('eeprom', '--board', board);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[all]\n');
    expect(r.stdout).toMatch(/^BOOT_ORDER=0xf21$/m);
    expect(r.stdout).toMatch(/^TFTP_PREFIX=2$/m);
    expect(r.stdout).not.toContain('rpi-eeprom-config --apply kiln-eeprom.conf');
    expect(r.stderr).toContain('sudo rpi-eeprom-config --apply kiln-eeprom.conf');
  });

  it('--server and --boot-order go into the file; --steps prints only the steps', async () => {
    const r = await kiln('eeprom', '--board', 'pi5', '--server', '10.42.0.1', '--boot-order', '0xf261');
    expect(r.stdout).toMatch(/^TFTP_IP=10\.42\.0\.1$/m);
    expect(r.stdout).toMatch(/^BOOT_ORDER=0xf261$/m);
    const s = await kiln('eeprom', '--board', 'pi4', '--steps');
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('vcgencmd bootloader_config');
    expect(s.stdout).not.toContain('[all]');
    expect(s.stderr).toBe('');
  });

  it.each([
    [['--board', 'pi3'], '--board'],
    [[], '--board is required'],
    [['--board', 'pi5', '--boot-order', '0xf41'], '--boot-order'],
    [['--board', 'pi4', '--boot-order', 'nope'], '--boot-order'],
    [['--board', 'pi4', '--server', 'kiln.lan'], '--server'],
  ])('refuses %j with a KilnError naming %s, exit 2', async (args, flag) => {
    const r = await kiln('eeprom', ...args);
    expect(r.code).toBe(EXIT.invalid);
    expect(r.error).toBeInstanceOf(KilnError);
    expect(r.stderr).toContain(`kiln eeprom: error: ${flag}`);
    expect(r.stdout).toBe('');
  });
});
