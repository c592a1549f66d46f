import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { diffSources } from '../diff/diff.js';
import { renderHtml } from '../diff/report-html.js';
import { renderText } from '../diff/report-text.js';
import { resolveSource } from '../manifest/source.js';
import { EXIT, KilnError } from '../util/errors.js';

interface DiffFlags {
  json?: boolean;
  html?: string | boolean;
  textLimit?: string;
  bytesOnly?: boolean;
}

export function registerDiff(program: Command): void {
  program
    .command('diff')
    .description(
      'Show why two builds differ, layer by layer: image bytes, partition table, each filesystem ' +
        '(metadata, then files), then the manifests (inputs, packages, artifacts, host tools). ' +
        'Identical layers are not opened, so equal images are settled by two hashes.',
    )
    .argument('<a>', 'build directory (dist/<name>/ with manifest.json) or a bare .img file')
    .argument('<b>', 'build directory or .img file to compare with')
    .option('--json', 'print the report as JSON on stdout')
    .option('--html [file]', 'write a self-contained HTML report to <file> (stdout when no file is given)')
    .option('--text-limit <bytes>', 'largest text file shown as a unified diff', '262144')
    .option('--bytes-only', 'compare the images only; ignore manifest differences')
    .addHelpText(
      'after',
      `
Exit status (as diffoscope): 0 identical, 1 different, 2 error (unreadable, corrupt or truncated input).
Nothing is mounted and no root is needed: ext4 is read with debugfs, FAT with mtools.

Examples:
  kiln diff dist/pi-k3s /srv/kiln/previous/pi-k3s
  kiln diff --html report.html a.img b.img
  kiln diff --json dist/a dist/b | jq '.layers[] | select(.status=="different") | .id'`,
    )
    .action(async (a: string, b: string, flags: DiffFlags) => {
      const textLimit = Number(flags.textLimit);
      if (!Number.isInteger(textLimit) || textLimit < 0) throw new KilnError(`--text-limit: "${flags.textLimit}" is not a byte count`);
      if (flags.json && flags.html === true) throw new KilnError('--json and --html both want stdout: give --html a file name');
      const [sa, sb] = await Promise.all([resolveSource(a), resolveSource(b)]);
      const report = await diffSources(sa, sb, { textLimit, bytesOnly: flags.bytesOnly === true });
      if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      if (flags.html !== undefined) {
        const html = renderHtml(report);
        if (typeof flags.html === 'string') writeFileSync(flags.html, html);
        else process.stdout.write(html);
      }
      if (!flags.json && flags.html !== true) process.stdout.write(renderText(report));
      process.exitCode = report.identical ? EXIT.ok : EXIT.different;
    });
}
