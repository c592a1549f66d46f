import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveSource } from '../manifest/source.js';
import { trustFrom, type Trust } from '../provenance/sshsig.js';
import { renderVerifyText } from '../verify/report.js';
import { verifySource } from '../verify/verify.js';
import { EXIT, KilnError } from '../util/errors.js';

interface VerifyFlags {
  device?: string;
  json?: boolean;
  files?: boolean;
  key?: string;
  identity?: string;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'Check a build against what vouches for it: SHA256SUMS, the manifest (image and partition ' +
        'hashes, MBR disk id, PARTUUIDs, filesystem UUID/hash seed/volume id, per-file listings), the ' +
        '.img.zst and the block map. With --device, check a written disk against the block map ranges. ' +
        'With --key, also check the signatures kiln build --sign made (SHA256SUMS.sig and the provenance).',
    )
    .argument('<target>', 'build directory (dist/<name>/ with manifest.json) or a bare .img file')
    .option('--device <path>', "verify this written device (or file) against the image's block map instead")
    .option('--no-files', 'skip comparing the per-file listings of the manifest with the image trees')
    .option('--json', 'print the report as JSON')
    .option('--key <file>', 'check the signatures against this OpenSSH public key (.pub) or allowed_signers file (docs/provenance.md)')
    .option('--identity <name>', 'with an allowed_signers --key: the signer to accept')
    .addHelpText(
      'after',
      `
Exit status: 0 every check passed (skipped checks are allowed), 1 a check failed (with --key: an
unsigned build, a signature by another key, a changed SHA256SUMS or statement), 2 error.
A bare image without SHA256SUMS, manifest or .bmap beside it is checked for a sound table and
readable filesystems (their ids are printed).

Examples:
  kiln verify dist/pi-k3s
  kiln verify dist/pi-k3s --device /dev/mmcblk0
  kiln verify dist/pi-k3s --key release.pub
  kiln verify dist/pi-k3s --key allowed_signers --identity release@example.org`,
    )
    .action(async (target: string, flags: VerifyFlags) => {
      if (flags.identity !== undefined && flags.key === undefined) throw new KilnError('--identity names a signer in the --key file: give --key too');
      let trust: Trust | undefined;
      if (flags.key !== undefined) {
        const text = await readFile(flags.key, 'utf8').catch(() => undefined);
        if (text === undefined) throw new KilnError(`--key ${flags.key}: no such file`);
        trust = trustFrom(text, flags.key, flags.identity);
      }
      const src = await resolveSource(target);
      const report = await verifySource(src, { ...(flags.device ? { device: flags.device } : {}), files: flags.files !== false, ...(trust ? { trust } : {}) });
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderVerifyText(report));
      process.exitCode = report.ok ? EXIT.ok : EXIT.different;
    });
}
