import { Option, type Command } from 'commander';
import { build } from '../builder/pipeline.js';
import { jsonReporter, textReporter } from '../builder/progress.js';
import { verifyReproducible } from '../builder/reproducible.js';
import { defaultCacheDir } from '../util/paths.js';
import { kilnVersion } from './version.js';
import { EXIT } from '../util/errors.js';
import { loadSigningKey } from '../provenance/ssh-keygen.js';

export function registerBuild(program: Command): void {
  program
    .command('build')
    .argument('<spec>', 'image spec, e.g. images/pi-k3s.yaml')
    .description(
      'Build the image a spec describes, from its lock, into <out>/<name>/: <name>.img (MBR: FAT32 boot, ' +
        'ext4 root), .img.zst, .bmap, manifest.json, an SPDX SBOM, SHA256SUMS and boot/ (the boot ' +
        'partition files, for netboot). Stages are cached by their inputs; output appears only when ' +
        'complete. Same spec + lock => same bytes.',
    )
    .option('-o, --out <dir>', 'output directory', 'dist')
    .option('--cache <dir>', 'cache directory (debs, artifacts, stage outputs)', defaultCacheDir())
    .option('--lock <file>', 'lock file (default: <spec>.lock.json)')
    .option('--json', 'print machine-readable progress events (one JSON object per line) on stdout')
    .option('--no-stage-cache', 'rebuild every stage, ignoring cached outputs (blobs are still reused)')
    .addOption(
      new Option(
        '--rootfs-mode <mode>',
        'how maintainer scripts run: native (amd64 twins of dpkg, the shells, perl and the build tools, ' +
          'pinned in the lock; minutes faster) or emulated (everything under qemu-user: the reference)',
      )
        .choices(['native', 'emulated'])
        .default('native'),
    )
    .option(
      '--sign <key>',
      'sign the build: SHA256SUMS.sig (ssh-keygen -Y sign -n file) and provenance.intoto.jsonl (in-toto/SLSA provenance in a DSSE envelope); ' +
        'KEY is an unencrypted OpenSSH private key, or a public key whose private half ssh-agent holds (docs/provenance.md)',
    )
    .option('--verify-reproducible', 'after building, build again cold (no stage cache) with another TZ, umask, locale and directory, and compare')
    .addHelpText(
      'after',
      '\nExamples:\n  kiln lock images/pi-k3s.yaml && kiln build images/pi-k3s.yaml\n  kiln build --json images/pi-k3s-test.yaml > build-events.jsonl\n  kiln build --sign ~/.ssh/kiln_release images/pi-k3s.yaml\n',
    )
    .action(
      async (
        spec: string,
        o: {
          out: string;
          cache: string;
          lock?: string;
          json?: boolean;
          stageCache: boolean;
          rootfsMode: 'native' | 'emulated';
          verifyReproducible?: boolean;
          sign?: string;
        },
      ) => {
        // a key that cannot sign fails now, not after a build of minutes
        const sign = o.sign === undefined ? undefined : await loadSigningKey(o.sign);
        const report = o.json ? jsonReporter() : textReporter();
        const r = await build({
          specFile: spec,
          lockFile: o.lock,
          outDir: o.out,
          cacheRoot: o.cache,
          report,
          noStageCache: !o.stageCache,
          rootfsMode: o.rootfsMode,
          kilnVersion,
          ...(sign ? { sign } : {}),
        });
        if (!o.json) process.stdout.write(`${r.upToDate ? 'up to date: ' : ''}${r.outDir}/${r.manifest.image.file}  sha256 ${r.manifest.image.sha256}\n`);
        if (!o.json && sign) process.stdout.write(`signed: ${r.outDir}/SHA256SUMS.sig, ${r.outDir}/provenance.intoto.jsonl (${sign.publicKey.fingerprint})\n`);
        if (o.verifyReproducible) {
          const v = await verifyReproducible({ spec, lock: o.lock, cache: o.cache, first: r.manifest, report, rootfsMode: o.rootfsMode });
          process.stdout.write(
            `first build:  ${v.first}\nsecond build: ${v.second} (cold, ${v.env})\n${v.same ? 'REPRODUCIBLE: identical images' : 'NOT REPRODUCIBLE: images differ; run kiln diff on the two builds'}\n`,
          );
          if (!v.same) process.exitCode = EXIT.different;
        }
      },
    );
}
