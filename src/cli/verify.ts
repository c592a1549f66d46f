import type { Command } from 'commander';
import { resolveSource } from '../manifest/source.js';
import { renderVerifyText } from '../verify/report.js';
import { verifySource } from '../verify/verify.js';
import { EXIT } from '../util/errors.js';

interface VerifyFlags {
  device?: string;
  json?: boolean;
  files?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'Check a build against what vouches for it: SHA256SUMS, the manifest (image and partition ' +
        'hashes, MBR disk id, PARTUUIDs, filesystem UUID/hash seed/volume id, per-file listings), the ' +
        '.img.zst and the block map. With --device, check a written disk against the block map ranges.',
    )
    .argument('<target>', 'build directory (dist/<name>/ with manifest.json) or a bare .img file')
    .option('--device <path>', "verify this written device (or file) against the image's block map instead")
    .option('--no-files', 'skip comparing the per-file listings of the manifest with the image trees')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Exit status: 0 every check passed (skipped checks are allowed), 1 a check failed, 2 error.
A bare image without SHA256SUMS, manifest or .bmap beside it is checked for a sound table and
readable filesystems (their ids are printed).

Examples:
  kiln verify dist/pi-k3s
  kiln verify dist/pi-k3s --device /dev/mmcblk0`,
    )
    .action(async (target: string, flags: VerifyFlags) => {
      const src = await resolveSource(target);
      const report = await verifySource(src, { ...(flags.device ? { device: flags.device } : {}), files: flags.files !== false });
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderVerifyText(report));
      process.exitCode = report.ok ? EXIT.ok : EXIT.different;
    });
}
