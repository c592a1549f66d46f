import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../util/errors.js';
import { sha256 } from '../util/hash.js';
import { readSha256Sums, type SumEntry } from '../util/sha256sums.js';

// The signature files' names in a build directory, and SHA256SUMS as signing and verifying read it.

export const SUMS_FILE = 'SHA256SUMS';
export const SUMS_SIG_FILE = 'SHA256SUMS.sig';
export const PROVENANCE_FILE = 'provenance.intoto.jsonl';

/** Reads a build dir's SHA256SUMS (the same lines `kiln verify` reads) with the sha256 of its bytes. */
export async function readSums(dir: string): Promise<{ bytes: Buffer; entries: SumEntry[]; sha256: string } | undefined> {
  const bytes = await readFile(join(dir, SUMS_FILE)).catch(() => undefined);
  if (bytes === undefined) return undefined;
  const { entries, malformed } = readSha256Sums(bytes.toString('utf8'), { comments: true });
  const bad = malformed[0];
  if (bad) throw new KilnError(`${join(dir, SUMS_FILE)} line ${bad.line}: expected "<sha256>  <file>"`);
  return { bytes, entries: entries.map(({ sha256, file }) => ({ sha256, file })), sha256: sha256(bytes) };
}
