import type { Command } from 'commander';
import { resolve } from 'node:path';
import { PROVENANCE_FILE, SUMS_SIG_FILE } from '../provenance/files.js';
import { signBuildDir } from '../provenance/sign.js';
import { loadSigningKey } from '../provenance/ssh-keygen.js';

export function registerSign(program: Command): void {
  program
    .command('sign')
    .description(
      'Sign a build directory kiln build wrote (build once, sign in a separate step): every file SHA256SUMS ' +
        `lists is hashed first and signing is refused if one differs; then ${SUMS_SIG_FILE} (ssh-keygen -Y sign -n file) ` +
        `and ${PROVENANCE_FILE} (in-toto statement with SLSA provenance, in a DSSE envelope) are written, replacing earlier ones.`,
    )
    .argument('<build-dir>', 'build directory (dist/<name>/ with manifest.json and SHA256SUMS)')
    .requiredOption('--key <file>', 'an unencrypted OpenSSH private key, or a public key whose private half ssh-agent holds')
    .addHelpText('after', '\nExamples:\n  kiln sign dist/pi-k3s --key ~/.ssh/kiln_release\n  kiln verify dist/pi-k3s --key ~/.ssh/kiln_release.pub\n')
    .action(async (dir: string, o: { key: string }) => {
      const key = await loadSigningKey(o.key);
      const r = await signBuildDir(resolve(dir), key, { checkFiles: true });
      process.stdout.write(`signed ${dir}: ${SUMS_SIG_FILE}, ${PROVENANCE_FILE} (${r.subjects} subjects, ${key.publicKey.type} ${r.keyid})\n`);
    });
}
