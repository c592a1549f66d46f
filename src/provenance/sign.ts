import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest } from '../manifest/read.js';
import { MANIFEST_FILE } from '../manifest/write.js';
import { KilnError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import { PROVENANCE_FILE, readSums, SUMS_FILE, SUMS_SIG_FILE } from './files.js';
import { dearmor } from './sshsig.js';
import { envelopeLine, IN_TOTO_PAYLOAD_TYPE, pae } from './dsse.js';
import { FILE_NAMESPACE, PROVENANCE_NAMESPACE, sshSign, type SigningKey } from './ssh-keygen.js';
import { provenanceStatement, statementBytes } from './statement.js';

// Signing a build directory: SHA256SUMS.sig (ssh-keygen -Y sign -n file over SHA256SUMS) and
// provenance.intoto.jsonl (one DSSE envelope of the in-toto statement, signed over its PAE). Both
// are written under temp names and renamed last, so a reader sees either no new signature file or
// a whole one. The build signs its temp output dir before renaming it into place.

export interface SignOptions {
  /**
   * Hash every file SHA256SUMS lists and refuse to sign when one differs (signing an existing build
   * vouches for what is there now). The build skips it: it wrote the files and their sums a moment ago.
   */
  checkFiles?: boolean;
}

export interface Signed {
  subjects: number;
  keyid: string;
}

export async function signBuildDir(dir: string, key: SigningKey, opts: SignOptions = {}): Promise<Signed> {
  const sums = await readSums(dir);
  if (!sums) throw new KilnError(`${dir}: no ${SUMS_FILE} to sign`, { hint: 'sign a build directory that kiln build wrote' });
  const manifest = await readManifest(join(dir, MANIFEST_FILE), dir);
  if (!sums.entries.some((e) => e.file === MANIFEST_FILE)) throw new KilnError(`${join(dir, SUMS_FILE)} does not list ${MANIFEST_FILE}: refusing to sign`);
  if (opts.checkFiles) {
    for (const e of sums.entries) {
      const path = join(dir, e.file);
      if (e.file.includes('/') || !(await stat(path).catch(() => undefined))?.isFile())
        throw new KilnError(`refusing to sign ${dir}: ${e.file} is listed in ${SUMS_FILE} but missing`);
      const actual = await sha256File(path);
      if (actual !== e.sha256) throw new KilnError(`refusing to sign ${dir}: ${e.file} has sha256 ${actual}, ${SUMS_FILE} lists ${e.sha256}`);
    }
  }
  const statement = provenanceStatement({ manifest, sums: sums.entries, sumsSha256: sums.sha256 });
  const payload = statementBytes(statement);
  const sumsSig = await sshSign(key, FILE_NAMESPACE, sums.bytes);
  const dsseSig = dearmor(await sshSign(key, PROVENANCE_NAMESPACE, pae(IN_TOTO_PAYLOAD_TYPE, payload)));
  if (!dsseSig) throw new KilnError('ssh-keygen -Y sign wrote a signature kiln cannot read');
  const line = envelopeLine(IN_TOTO_PAYLOAD_TYPE, payload, [{ keyid: key.publicKey.fingerprint, sig: dsseSig.toString('base64') }]);
  await writeBoth(dir, [
    [SUMS_SIG_FILE, sumsSig],
    [PROVENANCE_FILE, line],
  ]);
  return { subjects: statement.subject.length, keyid: key.publicKey.fingerprint };
}

async function writeBoth(dir: string, files: [string, string][]): Promise<void> {
  const tmp = files.map(([name]) => join(dir, `.${name}.tmp-${process.pid}`));
  try {
    for (const [i, [, text]] of files.entries()) await writeFile(tmp[i] as string, text, { mode: 0o644 });
    for (const [i, [name]] of files.entries()) await rename(tmp[i] as string, join(dir, name));
  } finally {
    for (const t of tmp) await rm(t, { force: true });
  }
}
