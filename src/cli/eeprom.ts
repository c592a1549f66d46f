import type { Command } from 'commander';
import { applySteps, BOARDS, NETWORK_BOOT_ORDER, hex, parseBoard, parseBootOrder, parseServer, renderEepromConfig } from '../eeprom/config.js';
import { KilnError } from '../util/errors.js';

export function registerEeprom(program: Command): void {
  program
    .command('eeprom')
    .summary('print a Pi 4 or Pi 5 bootloader (EEPROM) config that netboots from kiln, and how to apply it')
    .description(
      [
        "Print, as an rpi-eeprom-config file, the bootloader settings a Pi needs before it netboots from kiln: BOOT_ORDER with the network after the disk, TFTP_PREFIX=2 (the Pi's MAC, a prefix kiln serves), and TFTP_IP with --server. Every line carries a comment saying why. Pi 4 and Pi 5 bootloaders do not try the network as they leave the factory, so a Pi that never netboots usually needs this.",
        'The file goes to stdout and the steps to apply it (rpi-eeprom-config --apply on Raspberry Pi OS, or a bootloader SD card from Raspberry Pi Imager) to stderr, so `kiln eeprom --board pi5 > kiln-eeprom.conf` writes a clean file. --steps prints only the steps.',
        '--board is required: the two bootloaders differ (factory boot order, boot modes, UART default), and a file applied to the wrong one is worse than a question.',
      ].join('\n\n'),
    )
    .option('--board <board>', `the Pi's bootloader: ${BOARDS.join(' or ')} (pi4 also covers Pi 400 and CM4; pi5 also Pi 500 and CM5)`)
    .option('--server <ip>', "kiln's IPv4 address, written as TFTP_IP (only needed when the DHCP answer the Pi gets does not name kiln)")
    .option(
      '--boot-order <hex>',
      `BOOT_ORDER instead of ${hex(NETWORK_BOOT_ORDER)} (SD card, then network), e.g. 0xf241 for a USB disk or 0xf261 for NVMe; must try the network, not first`,
    )
    .option('--steps', 'print only the steps to apply the file and check it')
    .action((o: { board?: string; server?: string; bootOrder?: string; steps?: boolean }) => {
      if (o.board === undefined) {
        throw new KilnError(`--board is required: ${BOARDS.join(' or ')}`, { hint: 'pi4 covers Pi 4, Pi 400 and CM4; pi5 covers Pi 5, Pi 500 and CM5' });
      }
      const board = parseBoard(o.board);
      const bootOrder = o.bootOrder === undefined ? undefined : parseBootOrder(o.bootOrder, board);
      const server = o.server === undefined ? undefined : parseServer(o.server);
      if (o.steps) {
        process.stdout.write(applySteps(board));
        return;
      }
      process.stdout.write(renderEepromConfig({ board, ...(bootOrder === undefined ? {} : { bootOrder }), ...(server === undefined ? {} : { server }) }));
      process.stderr.write(`\n${applySteps(board)}`);
    });
}
