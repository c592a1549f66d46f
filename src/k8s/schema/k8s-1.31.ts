import type { Schema, SchemaSource } from './validate.js';

/*
 * A hand-written subset of the Kubernetes 1.31 API schema (k3s v1.31.4+k3s1), plus the two k3s
 * helm-controller CRDs. It is NOT generated from the upstream OpenAPI documents (they cannot be
 * fetched here): field names and types were written from the 1.31 API reference by a person and
 * cover the kinds cluster/ uses. Each object level listed is closed (unknown fields are errors,
 * which is what catches typos); levels marked `open` accept anything and are not checked deeper.
 * A kind missing here is reported as "no schema", never passed.
 */

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const intOrString: Schema = { 'x-kubernetes-int-or-string': true };
const open: Schema = { type: 'object' };
const strMap: Schema = { type: 'object', additionalProperties: str };
const list = (items: Schema): Schema => ({ type: 'array', items });
const strList = list(str);
const oneOf = (...values: string[]): Schema => ({ type: 'string', enum: values });
function obj(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', properties, required, additionalProperties: false };
}

const objectMeta = obj({
  name: str, namespace: str, generateName: str, labels: strMap, annotations: strMap,
  finalizers: strList, ownerReferences: list(open),
}, ['name']);

const labelSelector = obj({
  matchLabels: strMap,
  matchExpressions: list(obj({ key: str, operator: oneOf('In', 'NotIn', 'Exists', 'DoesNotExist'), values: strList }, ['key', 'operator'])),
});

const seccompProfile = obj({ type: oneOf('RuntimeDefault', 'Unconfined', 'Localhost'), localhostProfile: str }, ['type']);
const appArmorProfile = obj({ type: oneOf('RuntimeDefault', 'Unconfined', 'Localhost'), localhostProfile: str }, ['type']);

const containerSecurityContext = obj({
  allowPrivilegeEscalation: bool, appArmorProfile, capabilities: obj({ add: strList, drop: strList }),
  privileged: bool, procMount: oneOf('Default', 'Unmasked'), readOnlyRootFilesystem: bool,
  runAsGroup: int, runAsNonRoot: bool, runAsUser: int, seLinuxOptions: open, seccompProfile, windowsOptions: open,
});

const podSecurityContext = obj({
  appArmorProfile, fsGroup: int, fsGroupChangePolicy: oneOf('OnRootMismatch', 'Always'), runAsGroup: int,
  runAsNonRoot: bool, runAsUser: int, seLinuxOptions: open, seccompProfile, supplementalGroups: list(int),
  supplementalGroupsPolicy: oneOf('Merge', 'Strict'), sysctls: list(obj({ name: str, value: str }, ['name', 'value'])),
  windowsOptions: open,
});

const httpGet = obj({
  host: str, httpHeaders: list(obj({ name: str, value: str }, ['name', 'value'])), path: str, port: intOrString,
  scheme: oneOf('HTTP', 'HTTPS'),
}, ['port']);

const probe = obj({
  exec: obj({ command: strList }), failureThreshold: int, grpc: obj({ port: int, service: str }, ['port']), httpGet,
  initialDelaySeconds: int, periodSeconds: int, successThreshold: int,
  tcpSocket: obj({ host: str, port: intOrString }, ['port']), terminationGracePeriodSeconds: int, timeoutSeconds: int,
});

const quantities: Schema = { type: 'object', additionalProperties: intOrString };

const container = obj({
  args: strList, command: strList,
  env: list(obj({ name: str, value: str, valueFrom: open }, ['name'])), envFrom: list(open),
  image: str, imagePullPolicy: oneOf('Always', 'Never', 'IfNotPresent'), lifecycle: open,
  livenessProbe: probe, name: str,
  ports: list(obj({ containerPort: int, hostIP: str, hostPort: int, name: str, protocol: oneOf('TCP', 'UDP', 'SCTP') }, ['containerPort'])),
  readinessProbe: probe, resizePolicy: list(open),
  resources: obj({ claims: list(open), limits: quantities, requests: quantities }),
  restartPolicy: oneOf('Always'), securityContext: containerSecurityContext, startupProbe: probe,
  stdin: bool, stdinOnce: bool, terminationMessagePath: str, terminationMessagePolicy: oneOf('File', 'FallbackToLogsOnError'),
  tty: bool, volumeDevices: list(obj({ devicePath: str, name: str }, ['devicePath', 'name'])),
  volumeMounts: list(obj({
    mountPath: str, mountPropagation: oneOf('None', 'HostToContainer', 'Bidirectional'), name: str, readOnly: bool,
    recursiveReadOnly: oneOf('Disabled', 'IfPossible', 'Enabled'), subPath: str, subPathExpr: str,
  }, ['mountPath', 'name'])),
  workingDir: str,
}, ['name']);

const volumeSources = [
  'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder', 'configMap', 'csi', 'downwardAPI', 'emptyDir',
  'ephemeral', 'fc', 'flexVolume', 'flocker', 'gcePersistentDisk', 'gitRepo', 'glusterfs', 'image', 'iscsi', 'nfs',
  'persistentVolumeClaim', 'photonPersistentDisk', 'portworxVolume', 'projected', 'quobyte', 'rbd', 'scaleIO', 'secret',
  'storageos', 'vsphereVolume',
];
const volume = obj({
  name: str,
  ...Object.fromEntries(volumeSources.map((s) => [s, open])),
  hostPath: obj({ path: str, type: oneOf('', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice') }, ['path']),
  emptyDir: obj({ medium: str, sizeLimit: intOrString }),
}, ['name']);

const podSpec = obj({
  activeDeadlineSeconds: int, affinity: open, automountServiceAccountToken: bool, containers: list(container),
  dnsConfig: open, dnsPolicy: oneOf('ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'), enableServiceLinks: bool,
  ephemeralContainers: list(open), hostAliases: list(open), hostIPC: bool, hostNetwork: bool, hostPID: bool, hostUsers: bool,
  hostname: str, imagePullSecrets: list(obj({ name: str })), initContainers: list(container), nodeName: str,
  nodeSelector: strMap, os: obj({ name: str }, ['name']), overhead: quantities, preemptionPolicy: str, priority: int,
  priorityClassName: str, readinessGates: list(open), resourceClaims: list(open),
  restartPolicy: oneOf('Always', 'OnFailure', 'Never'), runtimeClassName: str, schedulerName: str,
  schedulingGates: list(open), securityContext: podSecurityContext, serviceAccount: str, serviceAccountName: str,
  setHostnameAsFQDN: bool, shareProcessNamespace: bool, subdomain: str, terminationGracePeriodSeconds: int,
  tolerations: list(obj({ effect: oneOf('NoSchedule', 'PreferNoSchedule', 'NoExecute'), key: str, operator: oneOf('Exists', 'Equal'), tolerationSeconds: int, value: str })),
  topologySpreadConstraints: list(open), volumes: list(volume),
}, ['containers']);

const podTemplate = obj({ metadata: obj({ labels: strMap, annotations: strMap, name: str }), spec: podSpec });

const rollingUpdate = obj({ maxSurge: intOrString, maxUnavailable: intOrString });

const policyRule = obj({ apiGroups: strList, nonResourceURLs: strList, resourceNames: strList, resources: strList, verbs: strList }, ['verbs']);
const roleRef = obj({ apiGroup: str, kind: oneOf('Role', 'ClusterRole'), name: str }, ['apiGroup', 'kind', 'name']);
const subject = obj({ apiGroup: str, kind: oneOf('User', 'Group', 'ServiceAccount'), name: str, namespace: str }, ['kind', 'name']);

const netPolPort = obj({ endPort: int, port: intOrString, protocol: oneOf('TCP', 'UDP', 'SCTP') });
const netPolPeer = obj({ ipBlock: obj({ cidr: str, except: strList }, ['cidr']), namespaceSelector: labelSelector, podSelector: labelSelector });

const serviceBackend = obj({ name: str, port: obj({ name: str, number: int }) }, ['name']);
const ingressBackend = obj({ resource: open, service: serviceBackend });

/** Top-level object: apiVersion, kind, metadata, plus the kind's own fields. */
function kind(fields: Record<string, Schema>, required: string[] = []): Schema {
  return obj({ apiVersion: str, kind: str, metadata: objectMeta, ...fields }, ['apiVersion', 'kind', 'metadata', ...required]);
}

const KINDS: Readonly<Record<string, Schema>> = {
  'v1/Namespace': kind({ spec: obj({ finalizers: strList }) }),
  'v1/ServiceAccount': kind({ automountServiceAccountToken: bool, imagePullSecrets: list(obj({ name: str })), secrets: list(open) }),
  'v1/ConfigMap': kind({ data: strMap, binaryData: strMap, immutable: bool }),
  'v1/Service': kind({
    spec: obj({
      allocateLoadBalancerNodePorts: bool, clusterIP: str, clusterIPs: strList, externalIPs: strList, externalName: str,
      externalTrafficPolicy: oneOf('Cluster', 'Local'), healthCheckNodePort: int, internalTrafficPolicy: oneOf('Cluster', 'Local'),
      ipFamilies: list(oneOf('IPv4', 'IPv6')), ipFamilyPolicy: oneOf('SingleStack', 'PreferDualStack', 'RequireDualStack'),
      loadBalancerClass: str, loadBalancerIP: str, loadBalancerSourceRanges: strList,
      ports: list(obj({ appProtocol: str, name: str, nodePort: int, port: int, protocol: oneOf('TCP', 'UDP', 'SCTP'), targetPort: intOrString }, ['port'])),
      publishNotReadyAddresses: bool, selector: strMap, sessionAffinity: oneOf('ClientIP', 'None'), sessionAffinityConfig: open,
      trafficDistribution: str, type: oneOf('ExternalName', 'ClusterIP', 'NodePort', 'LoadBalancer'),
    }),
  }),
  'apps/v1/Deployment': kind({
    spec: obj({
      minReadySeconds: int, paused: bool, progressDeadlineSeconds: int, replicas: int, revisionHistoryLimit: int,
      selector: labelSelector, strategy: obj({ type: oneOf('Recreate', 'RollingUpdate'), rollingUpdate }), template: podTemplate,
    }, ['selector', 'template']),
  }),
  'apps/v1/DaemonSet': kind({
    spec: obj({
      minReadySeconds: int, revisionHistoryLimit: int, selector: labelSelector, template: podTemplate,
      updateStrategy: obj({ type: oneOf('RollingUpdate', 'OnDelete'), rollingUpdate }),
    }, ['selector', 'template']),
  }),
  'rbac.authorization.k8s.io/v1/ClusterRole': kind({ aggregationRule: open, rules: list(policyRule) }),
  'rbac.authorization.k8s.io/v1/Role': kind({ rules: list(policyRule) }),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': kind({ roleRef, subjects: list(subject) }, ['roleRef']),
  'rbac.authorization.k8s.io/v1/RoleBinding': kind({ roleRef, subjects: list(subject) }, ['roleRef']),
  'networking.k8s.io/v1/NetworkPolicy': kind({
    spec: obj({
      podSelector: labelSelector, policyTypes: list(oneOf('Ingress', 'Egress')),
      ingress: list(obj({ from: list(netPolPeer), ports: list(netPolPort) })),
      egress: list(obj({ to: list(netPolPeer), ports: list(netPolPort) })),
    }),
  }),
  'networking.k8s.io/v1/Ingress': kind({
    spec: obj({
      defaultBackend: ingressBackend, ingressClassName: str,
      rules: list(obj({
        host: str,
        http: obj({ paths: list(obj({ backend: ingressBackend, path: str, pathType: oneOf('Exact', 'Prefix', 'ImplementationSpecific') }, ['backend', 'pathType'])) }, ['paths']),
      })),
      tls: list(obj({ hosts: strList, secretName: str })),
    }),
  }),
  // k3s helm-controller CRDs (helm.cattle.io/v1), as k3s v1.31.4 ships them.
  'helm.cattle.io/v1/HelmChart': kind({
    spec: obj({
      authPassCredentials: bool, authSecret: obj({ name: str }), backOffLimit: int, bootstrap: bool, chart: str,
      chartContent: str, createNamespace: bool, dockerRegistrySecret: obj({ name: str }), failurePolicy: oneOf('abort', 'reinstall'),
      helmVersion: str, insecureSkipTLSVerify: bool, jobImage: str, plainHTTP: bool, podSecurityContext: open,
      repo: str, repoCA: str, repoCAConfigMap: obj({ name: str }), securityContext: open, set: { type: 'object', additionalProperties: intOrString },
      targetNamespace: str, timeout: str, valuesContent: str, version: str,
    }),
  }),
  'helm.cattle.io/v1/HelmChartConfig': kind({ spec: obj({ failurePolicy: oneOf('abort', 'reinstall'), valuesContent: str }) }),
};

export const k8s131Subset: SchemaSource = {
  name: 'kiln hand-written subset of Kubernetes 1.31 (+ k3s helm.cattle.io/v1)',
  schemaFor(apiVersion, kindName) {
    return KINDS[`${apiVersion}/${kindName}`];
  },
};

/** The kinds this subset knows, for reports. */
export const knownKinds: readonly string[] = Object.keys(KINDS);
