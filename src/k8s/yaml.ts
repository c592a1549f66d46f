import { isScalar, parseAllDocuments, Scalar, stringify, visit } from 'yaml';
import { isObject, ManifestError, type Json, type JsonObject } from './types.js';

/** Parses a multi-document manifest file; empty documents are skipped, anything but a mapping is an error. */
export function parseManifests(text: string, file: string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new ManifestError(file, `document ${i + 1}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    // kubectl reads a plain 0440 as octal (288), this parser (YAML 1.2) as 440: a file mode
    // would silently differ between the checked render and the applied one.
    visit(doc, {
      Scalar(_key, node) {
        if (isScalar(node) && node.type === Scalar.PLAIN && /^[-+]?0\d+$/.test(node.source ?? '')) {
          throw new ManifestError(file, `document ${i + 1}: ${node.source ?? ''} is octal to kubectl but decimal here: write it in decimal, or quote it`);
        }
      },
    });
    // Plain JSON only: a YAML merge key, tag or anchor trick is not something kubectl would accept either.
    const value = doc.toJS({ maxAliasCount: 0 }) as Json | undefined;
    if (value === null || value === undefined) continue;
    if (!isObject(value)) throw new ManifestError(file, `document ${i + 1} is not a mapping`);
    out.push(value);
  }
  return out;
}

/** Parses a file that must hold exactly one mapping (kustomization.yaml, a patch). */
export function parseOne(text: string, file: string): JsonObject {
  const docs = parseManifests(text, file);
  if (docs.length !== 1 || !docs[0]) throw new ManifestError(file, `expected one YAML document, found ${docs.length}`);
  return docs[0];
}

/**
 * Stable text for snapshots: keys sorted (as kubectl prints them), one document per object,
 * long strings never folded so a one-word change is a one-line diff.
 */
export function dumpManifests(objects: readonly JsonObject[]): string {
  return objects.map((o) => stringify(o, { sortMapEntries: true, lineWidth: 0, minContentWidth: 0 })).join('---\n');
}
