import { idOf, type JsonObject } from './types.js';

// Objects that others depend on come first (namespaces before what lives in them, RBAC before
// workloads), the way kubectl/kustomize print them; the rest follows by kind name.
const KIND_ORDER = [
  'Namespace',
  'ResourceQuota',
  'StorageClass',
  'CustomResourceDefinition',
  'ServiceAccount',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'ConfigMap',
  'Secret',
  'Endpoints',
  'Service',
  'LimitRange',
  'PriorityClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Deployment',
  'StatefulSet',
  'CronJob',
  'PodDisruptionBudget',
];

function rank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/** A stable order for snapshots and comparisons: by kind rank, kind, namespace, name, apiVersion. */
export function sortObjects(objects: readonly JsonObject[]): JsonObject[] {
  return [...objects].sort((a, b) => {
    const x = idOf(a);
    const y = idOf(b);
    return (
      rank(x.kind) - rank(y.kind) ||
      x.kind.localeCompare(y.kind) ||
      x.namespace.localeCompare(y.namespace) ||
      x.name.localeCompare(y.name) ||
      x.apiVersion.localeCompare(y.apiVersion)
    );
  });
}
