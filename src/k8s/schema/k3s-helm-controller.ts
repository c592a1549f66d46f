import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { isObject } from '../types.js';
import { modelProblems } from './upstream.js';
import { validate, type Schema, type SchemaSource } from './validate.js';

/*
 * The two CRDs of k3s' bundled helm-controller (helm.cattle.io/v1 HelmChart and HelmChartConfig).
 * HAND-WRITTEN: no package reachable here (npm registry, Debian) carries a schema generated from
 * these CRDs, so the spec fields below were written by a person and stay a transcription.
 * `metadata` is checked with the ObjectMeta model generated from the Kubernetes OpenAPI document
 * (@kubernetes-models/apimachinery), like every other kind.
 * Objects are closed: an unknown field is an error; `open` levels are not checked deeper.
 *
 * Transcribed from the CRDs k3s v1.31.4+k3s1 ships; NOT re-checked for the v1.36.4+k3s1 now pinned:
 * which helm-controller release that k3s embeds could not be established from here. Compared with
 * the CRDs published in helm-controller's own repository at v0.17.0 and v0.17.7 (the newest line),
 * every field and enum value below is still there, and those releases add fields this schema lacks
 * (takeOwnership, values, valuesSecrets; in v0.17.7 also driver, forceConflicts, serverSide and the
 * failurePolicy `retry`). If k3s v1.36.4 has them, using one here is reported as an unknown field:
 * a false alarm, never a miss. Add a field only after reading the CRD of the pinned k3s (on a node:
 * `kubectl get crd helmcharts.helm.cattle.io -o yaml`).
 */

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const open: Schema = { type: 'object' };
const intOrString: Schema = { 'x-kubernetes-int-or-string': true };
const oneOf = (...values: string[]): Schema => ({ type: 'string', enum: values });
function obj(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', properties, required, additionalProperties: false };
}
function kind(spec: Schema): Schema {
  return obj({ apiVersion: str, kind: str, metadata: open, spec }, ['apiVersion', 'kind', 'metadata']);
}

const SCHEMAS: Readonly<Record<string, Schema>> = {
  'helm.cattle.io/v1/HelmChart': kind(
    obj({
      authPassCredentials: bool,
      authSecret: obj({ name: str }),
      backOffLimit: int,
      bootstrap: bool,
      chart: str,
      chartContent: str,
      createNamespace: bool,
      dockerRegistrySecret: obj({ name: str }),
      failurePolicy: oneOf('abort', 'reinstall'),
      helmVersion: str,
      insecureSkipTLSVerify: bool,
      jobImage: str,
      plainHTTP: bool,
      podSecurityContext: open,
      repo: str,
      repoCA: str,
      repoCAConfigMap: obj({ name: str }),
      securityContext: open,
      set: { type: 'object', additionalProperties: intOrString },
      targetNamespace: str,
      timeout: str,
      valuesContent: str,
      version: str,
    }),
  ),
  'helm.cattle.io/v1/HelmChartConfig': kind(obj({ failurePolicy: oneOf('abort', 'reinstall'), valuesContent: str })),
};

export const k3sHelmControllerSchemas: SchemaSource = {
  name: 'k3s helm-controller helm.cattle.io/v1 (hand-written)',
  validatorFor(apiVersion, kindName) {
    const schema = SCHEMAS[`${apiVersion}/${kindName}`];
    if (!schema) return undefined;
    return (o) => [...validate(o, schema), ...(isObject(o.metadata) ? modelProblems(ObjectMeta, o.metadata, 'metadata') : [])];
  },
};
