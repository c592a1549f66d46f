import { z } from 'zod';

// DSSE (https://github.com/secure-systems-lab/dsse, protocol.md and envelope.md): the signature is
// over PAE(payloadType, payload), never over the JSON of the envelope, so a verifier needs only the
// two fields and the signature. kiln puts one envelope on each line of a `.intoto.jsonl` file,
// the convention SLSA verifiers read. Pure: bytes in, bytes out.

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseSignature {
  /** kiln writes the signing key's `SHA256:` fingerprint; verifiers must not trust it, only the signature. */
  keyid?: string;
  /** base64 of the signature bytes (kiln: the binary SSHSIG blob, docs/provenance.md). */
  sig: string;
}

export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: DsseSignature[];
}

/** Pre-Authentication Encoding: `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`, lengths in bytes as ASCII decimal. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

/** One line of the .intoto.jsonl file (keys in a fixed order, ending in a newline). */
export function envelopeLine(payloadType: string, payload: Buffer, signatures: readonly DsseSignature[]): string {
  const env: DsseEnvelope = {
    payload: payload.toString('base64'),
    payloadType,
    signatures: signatures.map((s) => ({ ...(s.keyid !== undefined ? { keyid: s.keyid } : {}), sig: s.sig })),
  };
  return `${JSON.stringify(env)}\n`;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64 = z.string().refine((s) => BASE64.test(s) && s.length % 4 === 0, 'not base64');

const envelopeSchema = z.object({
  payload: base64,
  payloadType: z.string(),
  signatures: z.array(z.object({ keyid: z.string().optional(), sig: base64 })).min(1),
});

export interface ParsedEnvelope {
  envelope: DsseEnvelope;
  payload: Buffer;
}

/** The envelopes of a .intoto.jsonl file, or why a line is not one (1-based line numbers). */
export function parseEnvelopes(text: string): { envelopes: ParsedEnvelope[]; errors: string[] } {
  const envelopes: ParsedEnvelope[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      errors.push(`line ${i + 1} is not JSON`);
      return;
    }
    const r = envelopeSchema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      errors.push(`line ${i + 1} is not a DSSE envelope (${issue ? `${issue.path.join('.') || 'envelope'}: ${issue.message}` : 'invalid'})`);
      return;
    }
    envelopes.push({ envelope: r.data, payload: Buffer.from(r.data.payload, 'base64') });
  });
  return { envelopes, errors };
}
