import { isObject, type Json, type JsonObject } from './types.js';

// Kinds that have no namespace. A namespace transformer must leave them alone.
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'CSIDriver',
  'CSINode',
  'VolumeAttachment',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'APIService',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'FlowSchema',
  'PriorityLevelConfiguration',
  'CertificateSigningRequest',
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

/** kustomize's `namespace:` — sets metadata.namespace on every namespaced object. */
export function setNamespace(obj: JsonObject, namespace: string): void {
  if (typeof obj.kind !== 'string' || isClusterScoped(obj.kind)) return;
  ensureMap(obj, ['metadata']).namespace = namespace;
}

export interface LabelRule {
  pairs: Readonly<Record<string, string>>;
  /** Also selectors (changes which pods a workload owns: only for new apps). */
  includeSelectors: boolean;
  /** Also pod templates, without selectors. */
  includeTemplates: boolean;
}

// Where selector and template labels live, per kind: [path, create-if-missing].
type FieldSpec = readonly [readonly string[], boolean];
const SELECTORS: Readonly<Record<string, readonly FieldSpec[]>> = {
  Service: [[['spec', 'selector'], true]],
  ReplicationController: [[['spec', 'selector'], true]],
  Deployment: [[['spec', 'selector', 'matchLabels'], true]],
  ReplicaSet: [[['spec', 'selector', 'matchLabels'], true]],
  DaemonSet: [[['spec', 'selector', 'matchLabels'], true]],
  StatefulSet: [[['spec', 'selector', 'matchLabels'], true]],
  Job: [[['spec', 'selector', 'matchLabels'], false]],
  CronJob: [[['spec', 'jobTemplate', 'spec', 'selector', 'matchLabels'], false]],
  PodDisruptionBudget: [[['spec', 'selector', 'matchLabels'], false]],
  NetworkPolicy: [[['spec', 'podSelector', 'matchLabels'], false]],
};
const TEMPLATES: Readonly<Record<string, readonly FieldSpec[]>> = {
  ReplicationController: [[['spec', 'template', 'metadata', 'labels'], true]],
  Deployment: [[['spec', 'template', 'metadata', 'labels'], true]],
  ReplicaSet: [[['spec', 'template', 'metadata', 'labels'], true]],
  DaemonSet: [[['spec', 'template', 'metadata', 'labels'], true]],
  StatefulSet: [[['spec', 'template', 'metadata', 'labels'], true]],
  Job: [[['spec', 'template', 'metadata', 'labels'], true]],
  CronJob: [
    [['spec', 'jobTemplate', 'metadata', 'labels'], true],
    [['spec', 'jobTemplate', 'spec', 'template', 'metadata', 'labels'], true],
  ],
};

/** kustomize's `labels:` / `commonLabels:` (commonLabels = includeSelectors + templates). */
export function addLabels(obj: JsonObject, rule: LabelRule): void {
  const kind = typeof obj.kind === 'string' ? obj.kind : '';
  const specs: FieldSpec[] = [[['metadata', 'labels'], true]];
  if (rule.includeSelectors) specs.push(...(SELECTORS[kind] ?? []), ...(TEMPLATES[kind] ?? []));
  else if (rule.includeTemplates) specs.push(...(TEMPLATES[kind] ?? []));
  for (const [path, create] of specs) {
    const map = create ? ensureMap(obj, path) : findMap(obj, path);
    if (map) Object.assign(map, rule.pairs);
  }
}

function findMap(obj: JsonObject, path: readonly string[]): JsonObject | undefined {
  let at: Json | undefined = obj;
  for (const key of path) {
    if (!isObject(at)) return undefined;
    at = at[key];
  }
  return isObject(at) ? at : undefined;
}

function ensureMap(obj: JsonObject, path: readonly string[]): JsonObject {
  let at: JsonObject = obj;
  for (const key of path) {
    const next: Json | undefined = at[key];
    if (isObject(next)) at = next;
    else {
      const made: JsonObject = {};
      at[key] = made;
      at = made;
    }
  }
  return at;
}
