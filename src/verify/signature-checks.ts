import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../manifest/schema.js';
import { IN_TOTO_PAYLOAD_TYPE, pae, parseEnvelopes, type ParsedEnvelope } from '../provenance/dsse.js';
import { PROVENANCE_FILE, readSums, SUMS_FILE, SUMS_SIG_FILE } from '../provenance/files.js';
import { FILE_NAMESPACE, PROVENANCE_NAMESPACE, sshVerify } from '../provenance/ssh-keygen.js';
import { dearmor, parseSshSignature, type SshSignature, type Trust } from '../provenance/sshsig.js';
import { provenanceStatement, statementBytes, statementDifferences, SUMS_SUBJECT, type Statement } from '../provenance/statement.js';
import { fail, ok, type Check } from './model.js';

// `kiln verify --key`: SHA256SUMS.sig over SHA256SUMS, the DSSE signature over the provenance
// statement, and the statement against what kiln derives from manifest.json and SHA256SUMS. Only
// ssh-keygen -Y verify passes a signature; when it refuses one, the signature's own contents (its
// key, its namespace) and the other signed file say which thing changed, so each tampering has
// its own message.

export const SUMS_SIG_CHECK = 'SHA256SUMS signature';
export const DSSE_CHECK = 'provenance signature';
export const STATEMENT_CHECK = 'provenance statement';

const SHOWN = 3;
const UNSIGNED = 'the build is unsigned (kiln build --sign KEY, or kiln sign DIR --key KEY, signs it)';

export async function checkSignatures(dir: string, manifest: Manifest, trust: Trust): Promise<Check[]> {
  const sums = await readSums(dir);
  if (!sums) return [fail(SUMS_SIG_CHECK, `no ${SUMS_FILE} in ${dir}: nothing signed to check`)];
  const expected = provenanceStatement({ manifest, sums: sums.entries, sumsSha256: sums.sha256 });
  const prov = await checkProvenance(dir, trust, expected);
  const sumsCheck = await checkSumsSignature(dir, trust, sums.bytes, sums.sha256, prov.signed);
  return [sumsCheck, ...prov.checks];
}

/** Who a signature names and why that is not who --key trusts; undefined when it is one of them. */
function wrongSigner(s: SshSignature, trust: Trust, namespace: string, file: string): string | undefined {
  if (s.namespace !== namespace) return `${file} was signed for namespace "${s.namespace}", not "${namespace}"`;
  if (trust.keys.length === 0) return `${file} was signed by ${s.publicKey.fingerprint}, and ${trust.source} lists no key for "${trust.identity}"`;
  if (!trust.keys.some((k) => k.fingerprint === s.publicKey.fingerprint))
    return `${file} was signed by another key (${s.publicKey.type} ${s.publicKey.fingerprint}), not the one --key trusts (${trust.keys.map((k) => k.fingerprint).join(', ')})`;
  return undefined;
}

/** The SHA256SUMS digest a signed statement records (whatever shape the signer gave it). */
function recordedSumsDigest(signed: unknown): string | undefined {
  const subjects = (signed as { subject?: unknown } | undefined)?.subject;
  if (!Array.isArray(subjects)) return undefined;
  const s = subjects.find((x: unknown) => (x as { name?: unknown } | null)?.name === SUMS_SUBJECT) as { digest?: { sha256?: unknown } } | undefined;
  return typeof s?.digest?.sha256 === 'string' ? s.digest.sha256 : undefined;
}

async function checkSumsSignature(dir: string, trust: Trust, bytes: Buffer, sumsSha: string, signed: unknown): Promise<Check> {
  const armored = await readFile(join(dir, SUMS_SIG_FILE), 'utf8').catch(() => undefined);
  if (armored === undefined) return fail(SUMS_SIG_CHECK, `no ${SUMS_SIG_FILE}: ${UNSIGNED}`);
  const blob = dearmor(armored);
  const sig = blob ? parseSshSignature(blob) : { error: 'no armored SSH signature in it' };
  if (!blob || 'error' in sig) return fail(SUMS_SIG_CHECK, `${SUMS_SIG_FILE} is damaged: not a readable SSH signature (${'error' in sig ? sig.error : ''})`);
  const verdict = await sshVerify(trust, FILE_NAMESPACE, bytes, blob);
  if (verdict.good)
    return ok(SUMS_SIG_CHECK, `${SUMS_SIG_FILE} verifies: signed by "${trust.identity}" with ${sig.publicKey.type} ${sig.publicKey.fingerprint}`);
  const other = wrongSigner(sig, trust, FILE_NAMESPACE, SUMS_SIG_FILE);
  if (other) return fail(SUMS_SIG_CHECK, other);
  // The right key, and still no good: the signed statement records which SHA256SUMS was signed.
  const recorded = recordedSumsDigest(signed);
  if (recorded === undefined)
    return fail(
      SUMS_SIG_CHECK,
      `${SUMS_FILE} does not match ${SUMS_SIG_FILE}: ${SUMS_FILE} changed after signing or the signature is damaged (ssh-keygen: ${verdict.why})`,
    );
  if (recorded === sumsSha)
    return fail(
      SUMS_SIG_CHECK,
      `${SUMS_SIG_FILE} is damaged: ${SUMS_FILE} is exactly the one the signed provenance records, but this signature does not verify over it (ssh-keygen: ${verdict.why})`,
    );
  return fail(SUMS_SIG_CHECK, `${SUMS_FILE} changed after it was signed: its sha256 is ${sumsSha}, the signed provenance records ${recorded}`);
}

interface ProvenanceResult {
  checks: Check[];
  /** The statement (parsed JSON) of an envelope whose signature verified, if one did. */
  signed?: unknown;
}

async function checkProvenance(dir: string, trust: Trust, expected: Statement): Promise<ProvenanceResult> {
  const text = await readFile(join(dir, PROVENANCE_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return { checks: [fail(DSSE_CHECK, `no ${PROVENANCE_FILE}: ${UNSIGNED}`)] };
  const { envelopes, errors } = parseEnvelopes(text);
  const first = envelopes[0];
  if (!first) return { checks: [fail(DSSE_CHECK, `${PROVENANCE_FILE} holds no DSSE envelope${errors.length ? `: ${errors.join('; ')}` : ''}`)] };
  const expectedBytes = statementBytes(expected);
  let verified: ParsedEnvelope | undefined;
  let firstProblem: string | undefined;
  for (const env of envelopes) {
    const result = await verifyEnvelope(env, trust, expectedBytes);
    if (result.good) {
      verified = env;
      break;
    }
    firstProblem ??= result.why;
  }
  const checks: Check[] = [];
  if (verified) {
    const s = verified.envelope.signatures;
    checks.push(
      ok(DSSE_CHECK, `${PROVENANCE_FILE}: the DSSE signature verifies (signed by "${trust.identity}", keyid ${s.map((x) => x.keyid ?? '-').join(', ')})`),
    );
  } else checks.push(fail(DSSE_CHECK, firstProblem ?? `${PROVENANCE_FILE}: no signature verifies`));
  if (errors.length) checks.push(fail(DSSE_CHECK, `${PROVENANCE_FILE}: ${errors.join('; ')}`));
  const env = verified ?? first;
  let actual: unknown;
  try {
    actual = JSON.parse(env.payload.toString('utf8'));
  } catch {
    checks.push(fail(STATEMENT_CHECK, `${PROVENANCE_FILE}: the statement (the DSSE payload) is not JSON`));
    return { checks };
  }
  const diffs = statementDifferences(expected, actual);
  if (diffs.length === 0)
    checks.push(
      ok(
        STATEMENT_CHECK,
        `${expected.subject.length} subjects match ${SUMS_FILE}; the SLSA provenance matches manifest.json (spec, lock, packages, artifacts, tools)`,
      ),
    );
  else
    checks.push(
      fail(
        STATEMENT_CHECK,
        `the statement differs from what kiln derives from manifest.json and ${SUMS_FILE} in ${diffs.length} place${diffs.length === 1 ? '' : 's'}: ${diffs
          .slice(0, SHOWN)
          .map((d) => `${d.path}: statement says ${show(d.statement)}, expected ${show(d.expected)}`)
          .join('; ')}${diffs.length > SHOWN ? '; ...' : ''}`,
      ),
    );
  return verified ? { checks, signed: actual } : { checks };
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

async function verifyEnvelope(env: ParsedEnvelope, trust: Trust, expectedBytes: Buffer): Promise<{ good: true } | { good: false; why: string }> {
  const type = env.envelope.payloadType;
  if (type !== IN_TOTO_PAYLOAD_TYPE) return { good: false, why: `${PROVENANCE_FILE}: payloadType "${type}", not "${IN_TOTO_PAYLOAD_TYPE}"` };
  const signed = pae(type, env.payload);
  let why: string | undefined;
  for (const s of env.envelope.signatures) {
    const blob = Buffer.from(s.sig, 'base64');
    const sig = parseSshSignature(blob);
    if ('error' in sig) {
      why ??= `the DSSE signature in ${PROVENANCE_FILE} is damaged: not a readable SSH signature (${sig.error})`;
      continue;
    }
    const verdict = await sshVerify(trust, PROVENANCE_NAMESPACE, signed, blob);
    if (verdict.good) return { good: true };
    why ??=
      wrongSigner(sig, trust, PROVENANCE_NAMESPACE, `the statement in ${PROVENANCE_FILE}`) ??
      (env.payload.equals(expectedBytes)
        ? `the DSSE signature in ${PROVENANCE_FILE} is damaged: the statement is exactly what kiln derives from this build, but its signature does not verify over it (ssh-keygen: ${verdict.why})`
        : `the statement in ${PROVENANCE_FILE} changed after it was signed: its signature by ${sig.publicKey.fingerprint} does not verify over it (ssh-keygen: ${verdict.why})`);
  }
  return { good: false, why: why ?? `${PROVENANCE_FILE}: no signature` };
}
