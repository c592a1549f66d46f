import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { schemaProblems } from '../../../src/k8s/check.js';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import { renderKustomization } from '../../../src/k8s/kustomize.js';
import { cloudnativePgSchemas, clusterSchemas, fluxSchemas, kubernetesSchemas, schemaPins } from '../../../src/k8s/schema/sources.js';
import { modelSource } from '../../../src/k8s/schema/upstream.js';
import { idText, idOf, isObject, type JsonObject } from '../../../src/k8s/types.js';

const root = resolve(import.meta.dirname, '../../..');

function deployment(container: JsonObject, spec: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { 'app.kubernetes.io/name': 'web' }, annotations: { anything: 'goes' } },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [container] } }, ...spec },
  };
}

function networkPolicy(spec: JsonObject): JsonObject {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'np', namespace: 'demo' }, spec };
}

function kustomization(spec: JsonObject): JsonObject {
  return { apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization', metadata: { name: 'apps', namespace: 'flux-system' }, spec };
}

function gitRepository(spec: JsonObject): JsonObject {
  return { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: 'fleet', namespace: 'flux-system' }, spec };
}

function pgCluster(spec: JsonObject): JsonObject {
  return { apiVersion: 'postgresql.cnpg.io/v1', kind: 'Cluster', metadata: { name: 'kiln-db', namespace: 'kiln' }, spec };
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

/** What the opt-in kiln overlays make Flux apply (cluster/apps/kustomization.yaml leaves them out). */
const OPT_IN_OVERLAYS = ['apps/kiln', 'apps/base/cloudnative-pg', 'apps/kiln/app', 'apps/kiln-external-db'];

describe('Kubernetes built-in kinds (generated from the upstream OpenAPI document)', () => {
  it('accepts a well-formed Deployment', () => {
    expect(schemaProblems([deployment({ name: 'c', image: 'r.example/x:1.0.0', ports: [{ containerPort: 80 }] })], clusterSchemas)).toEqual([]);
  });

  it('reports a misspelt field with its path', () => {
    expect(schemaProblems([deployment({ name: 'c', imagePullPolicy: 'Always', imagee: 'x' })], clusterSchemas)).toEqual([
      'Deployment/web (apps/v1): spec.template.spec.containers[0].imagee: unknown field',
    ]);
  });

  it('reports misspelt fields at every depth, including metadata and the top level', () => {
    const d = deployment({ name: 'c', image: 'x', securityContext: { runAsNonroot: true } }, { replica: 2 });
    Object.assign(d, { specc: {} });
    Object.assign(d.metadata as JsonObject, { lables: { a: 'b' } });
    expect(sorted(schemaProblems([d], clusterSchemas))).toEqual(
      sorted([
        'Deployment/web (apps/v1): specc: unknown field',
        'Deployment/web (apps/v1): metadata.lables: unknown field',
        'Deployment/web (apps/v1): spec.replica: unknown field',
        'Deployment/web (apps/v1): spec.template.spec.containers[0].securityContext.runAsNonroot: unknown field',
      ]),
    );
  });

  it('reports wrong types, bad enums and missing required fields', () => {
    const problems = schemaProblems([deployment({ image: 'x', ports: [{ containerPort: '80', protocol: 'tcp' }] }, { replicas: 'two' })], clusterSchemas);
    expect(sorted(problems)).toEqual(
      sorted([
        'Deployment/web (apps/v1): spec.replicas: expected integer, got string "two"',
        'Deployment/web (apps/v1): spec.template.spec.containers[0].name: is required',
        'Deployment/web (apps/v1): spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string "80"',
        'Deployment/web (apps/v1): spec.template.spec.containers[0].ports[0].protocol: must be one of SCTP, TCP, UDP, got "tcp"',
      ]),
    );
  });

  it('reports a mapping where a list belongs, and a value out of its format', () => {
    const problems = schemaProblems([deployment({ name: 'c', image: 'x', args: { a: 'b' } }, { replicas: 2 ** 40 })], clusterSchemas);
    expect(sorted(problems)).toEqual(
      sorted([
        'Deployment/web (apps/v1): spec.replicas: is not a valid int32, got number 1099511627776',
        'Deployment/web (apps/v1): spec.template.spec.containers[0].args: expected list, got mapping',
      ]),
    );
  });

  it('keeps maps open but checks their values', () => {
    const ok = deployment({ name: 'c', image: 'x', resources: { limits: { cpu: '100m', memory: '64Mi', 'example.com/gpu': 1 } } });
    expect(schemaProblems([ok], clusterSchemas)).toEqual([]);
    const bad = deployment({ name: 'c', image: 'x', resources: { limits: { cpu: true } } });
    (bad.metadata as JsonObject).labels = { tier: 1 };
    expect(sorted(schemaProblems([bad], clusterSchemas))).toEqual(
      sorted([
        'Deployment/web (apps/v1): metadata.labels.tier: expected string, got number 1',
        'Deployment/web (apps/v1): spec.template.spec.containers[0].resources.limits.cpu: expected number or string, got boolean true',
      ]),
    );
  });

  it('knows fields added up to Kubernetes 1.36', () => {
    const d = deployment({
      name: 'c',
      image: 'x',
      securityContext: { appArmorProfile: { type: 'RuntimeDefault' } },
      volumeMounts: [{ name: 'v', mountPath: '/v', readOnly: true, recursiveReadOnly: 'IfPossible' }],
      // absent from the 1.33 document: these prove the schemas are 1.36's
      restartPolicyRules: [{ action: 'Restart', exitCodes: { operator: 'In', values: [42] } }],
      env: [{ name: 'E', valueFrom: { fileKeyRef: { volumeName: 'v', path: 'env', key: 'E' } } }],
    });
    const pod = (d.spec as { template: { spec: JsonObject } }).template.spec;
    pod.securityContext = { supplementalGroupsPolicy: 'Strict' };
    pod.hostnameOverride = 'web-0';
    pod.volumes = [{ name: 'v', image: { reference: 'r.example/data:1', pullPolicy: 'IfNotPresent' } }];
    expect(schemaProblems([d], clusterSchemas)).toEqual([]);
  });

  it('knows the kinds that went GA by Kubernetes 1.36, and checks them', () => {
    const vac = {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'VolumeAttributesClass',
      metadata: { name: 'fast' },
      driverName: 'csi.example',
      parameters: { iops: '3000' },
    };
    const cidr = { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'extra' }, spec: { cidrs: ['10.44.0.0/16'] } };
    const claim = {
      apiVersion: 'resource.k8s.io/v1',
      kind: 'ResourceClaim',
      metadata: { name: 'gpu', namespace: 'demo' },
      spec: { devices: { requests: [{ name: 'gpu', exactly: { deviceClassName: 'gpu.example.com' } }] } },
    };
    expect(schemaProblems([vac, cidr, claim], clusterSchemas)).toEqual([]);
    const typo = { apiVersion: vac.apiVersion, kind: vac.kind, metadata: vac.metadata, drivername: 'csi.example' };
    expect(sorted(schemaProblems([typo], clusterSchemas))).toEqual(
      sorted([
        'VolumeAttributesClass/fast (storage.k8s.io/v1): driverName: is required',
        'VolumeAttributesClass/fast (storage.k8s.io/v1): drivername: unknown field',
      ]),
    );
  });

  it('accepts int-or-string ports and rejects other types there', () => {
    const ok = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 'http' }] } };
    const bad = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: true }] } };
    expect(schemaProblems([ok], clusterSchemas)).toEqual([]);
    expect(schemaProblems([bad], clusterSchemas)).toEqual(['Service/s (v1): spec.ports[0].targetPort: expected integer or string, got boolean true']);
  });

  it('catches a typo and a wrong type in a NetworkPolicy', () => {
    const ok = networkPolicy({
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }], ports: [{ port: 'http', protocol: 'TCP' }] },
      ],
    });
    expect(schemaProblems([ok], clusterSchemas)).toEqual([]);
    const bad = networkPolicy({
      podSelector: {},
      policyTypes: 'Ingress',
      ingres: [],
      egress: [{ to: [{ podSelecter: {} }], ports: [{ port: 53, endPort: '54' }] }],
    });
    expect(sorted(schemaProblems([bad], clusterSchemas))).toEqual(
      sorted([
        'NetworkPolicy/demo/np (networking.k8s.io/v1): spec.policyTypes: expected list, got string "Ingress"',
        'NetworkPolicy/demo/np (networking.k8s.io/v1): spec.ingres: unknown field',
        'NetworkPolicy/demo/np (networking.k8s.io/v1): spec.egress[0].to[0].podSelecter: unknown field',
        'NetworkPolicy/demo/np (networking.k8s.io/v1): spec.egress[0].ports[0].endPort: expected integer, got string "54"',
      ]),
    );
  });

  it('does not change the object it checks', () => {
    const d = deployment({ name: 'c', image: 'x', imagee: 'y' });
    const before = structuredClone(d);
    schemaProblems([d], clusterSchemas);
    expect(d).toEqual(before);
  });
});

describe('Flux kinds (generated from the Flux CRDs)', () => {
  const sourceRef = { kind: 'GitRepository', name: 'fleet' };

  it('accepts a well-formed Kustomization and GitRepository', () => {
    expect(
      schemaProblems(
        [
          kustomization({ interval: '10m', path: './cluster', prune: true, sourceRef, patches: [{ patch: 'x', target: { kind: 'Deployment' } }] }),
          gitRepository({ interval: '5m', url: 'https://git.example.invalid/fleet.git', ref: { branch: 'main' } }),
        ],
        clusterSchemas,
      ),
    ).toEqual([]);
  });

  it('catches a typo and a wrong type in a Kustomization', () => {
    const problems = schemaProblems(
      [kustomization({ interval: '10m', pathh: './cluster', prune: 'yes', sourceRef: { kind: 'GitRepo', name: 'fleet' } })],
      clusterSchemas,
    );
    expect(sorted(problems)).toEqual(
      sorted([
        'Kustomization/flux-system/apps (kustomize.toolkit.fluxcd.io/v1): spec.pathh: unknown field',
        'Kustomization/flux-system/apps (kustomize.toolkit.fluxcd.io/v1): spec.prune: expected boolean, got string "yes"',
        'Kustomization/flux-system/apps (kustomize.toolkit.fluxcd.io/v1): spec.sourceRef.kind: must be one of OCIRepository, GitRepository, Bucket, got "GitRepo"',
      ]),
    );
  });

  it('catches a typo, a wrong type and a missing field in a GitRepository', () => {
    const problems = schemaProblems([gitRepository({ interval: 5, url: 'https://git.example.invalid/fleet.git', ref: { brnach: 'main' } })], clusterSchemas);
    expect(sorted(problems)).toEqual(
      sorted([
        'GitRepository/flux-system/fleet (source.toolkit.fluxcd.io/v1): spec.interval: expected string, got number 5',
        'GitRepository/flux-system/fleet (source.toolkit.fluxcd.io/v1): spec.ref.brnach: unknown field',
      ]),
    );
    expect(schemaProblems([gitRepository({ interval: '5m' })], clusterSchemas)).toEqual([
      'GitRepository/flux-system/fleet (source.toolkit.fluxcd.io/v1): spec.url: is required',
    ]);
  });

  it('checks the CRD patterns', () => {
    expect(schemaProblems([gitRepository({ interval: '5 minutes', url: 'https://git.example.invalid/fleet.git' })], clusterSchemas)).toEqual([
      'GitRepository/flux-system/fleet (source.toolkit.fluxcd.io/v1): spec.interval: must match ^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$, got string "5 minutes"',
    ]);
  });

  it('leaves fields the CRD keeps open (x-kubernetes-preserve-unknown-fields) open', () => {
    const release = {
      apiVersion: 'helm.toolkit.fluxcd.io/v2beta2',
      kind: 'HelmRelease',
      metadata: { name: 'r', namespace: 'demo' },
      spec: { interval: '10m', chart: { spec: { chart: 'c', sourceRef: { kind: 'HelmRepository', name: 'repo' } } }, values: { any: { nested: ['thing'] } } },
    };
    expect(schemaProblems([release], clusterSchemas)).toEqual([]);
  });
});

describe('CloudNativePG kinds (generated from the cloudnative-pg API types)', () => {
  it('accepts a well-formed Cluster', () => {
    const ok = pgCluster({
      instances: 3,
      imageName: 'ghcr.io/cloudnative-pg/postgresql:18.3-system-trixie',
      bootstrap: { initdb: { database: 'app', owner: 'app' } },
      storage: { size: '2Gi' },
      affinity: { enablePodAntiAffinity: true, topologyKey: 'kubernetes.io/hostname', podAntiAffinityType: 'required' },
      resources: { requests: { cpu: '100m', memory: '256Mi' } },
    });
    expect(schemaProblems([ok], clusterSchemas)).toEqual([]);
  });

  it('catches typos at every depth, a wrong type and a bad enum in a Cluster', () => {
    const bad = pgCluster({
      instance: 3,
      instances: 'three',
      bootstrap: { initdb: { database: 'app', ownr: 'app' } },
      storage: { sise: '2Gi' },
      primaryUpdateStrategy: 'sometimes',
    });
    expect(sorted(schemaProblems([bad], clusterSchemas))).toEqual(
      sorted([
        'Cluster/kiln/kiln-db (postgresql.cnpg.io/v1): spec.instance: unknown field',
        'Cluster/kiln/kiln-db (postgresql.cnpg.io/v1): spec.instances: expected integer, got string "three"',
        'Cluster/kiln/kiln-db (postgresql.cnpg.io/v1): spec.bootstrap.initdb.ownr: unknown field',
        'Cluster/kiln/kiln-db (postgresql.cnpg.io/v1): spec.storage.sise: unknown field',
        'Cluster/kiln/kiln-db (postgresql.cnpg.io/v1): spec.primaryUpdateStrategy: must be one of unsupervised, supervised, got "sometimes"',
      ]),
    );
  });

  it('offers the postgresql.cnpg.io/v1 kinds', () => {
    expect(cloudnativePgSchemas.kinds()).toEqual(
      expect.arrayContaining([
        'postgresql.cnpg.io/v1/Cluster',
        'postgresql.cnpg.io/v1/Database',
        'postgresql.cnpg.io/v1/Pooler',
        'postgresql.cnpg.io/v1/ScheduledBackup',
      ]),
    );
    expect(cloudnativePgSchemas.kinds().every((k) => k.startsWith('postgresql.cnpg.io/v1/'))).toBe(true);
  });
});

describe('the kiln agents (cluster/apps/kiln)', () => {
  const agent = (): JsonObject => {
    const found = renderKustomization(join(root, 'cluster/apps/kiln/app')).find((o) => o.kind === 'Deployment' && idOf(o).name === 'kiln-agent-rack1');
    if (!found) throw new Error('cluster/apps/kiln/app renders no Deployment kiln-agent-rack1');
    return found;
  };
  const podSpec = (d: JsonObject): JsonObject => (d.spec as { template: { spec: JsonObject } }).template.spec;

  it('validates as rendered', () => {
    expect(schemaProblems([agent()], clusterSchemas)).toEqual([]);
  });

  it('catches a typo in its pod spec, container and securityContext, and a wrong type', () => {
    const d = agent();
    const pod = podSpec(d);
    pod.hostNetwrok = true;
    const c = (pod.containers as JsonObject[])[0] as JsonObject;
    (c.securityContext as JsonObject).capabilites = { add: ['NET_RAW'] };
    (c.readinessProbe as JsonObject).httpGet = { path: '/health', port: 'http', shceme: 'HTTP' };
    (d.spec as JsonObject).replicas = '1';
    expect(sorted(schemaProblems([d], clusterSchemas))).toEqual(
      sorted([
        'Deployment/kiln/kiln-agent-rack1 (apps/v1): spec.replicas: expected integer, got string "1"',
        'Deployment/kiln/kiln-agent-rack1 (apps/v1): spec.template.spec.hostNetwrok: unknown field',
        'Deployment/kiln/kiln-agent-rack1 (apps/v1): spec.template.spec.containers[0].securityContext.capabilites: unknown field',
        'Deployment/kiln/kiln-agent-rack1 (apps/v1): spec.template.spec.containers[0].readinessProbe.httpGet.shceme: unknown field',
      ]),
    );
  });

  it('asks for exactly the capability kiln serve needs, as the non-root user of the image', () => {
    const pod = podSpec(agent());
    expect(pod.hostNetwork).toBe(true);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    const c = (pod.containers as JsonObject[])[0] as JsonObject;
    expect((c.securityContext as JsonObject).capabilities).toEqual({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
  });
});

describe('k3s helm-controller kinds (hand-written, no generated schema exists)', () => {
  const chart = (spec: JsonObject, metadata: JsonObject = { name: 'flux2', namespace: 'kube-system' }): JsonObject => ({
    apiVersion: 'helm.cattle.io/v1',
    kind: 'HelmChart',
    metadata,
    spec,
  });

  it('accepts a HelmChart and catches typos in spec and metadata', () => {
    expect(schemaProblems([chart({ repo: 'https://charts.example', chart: 'c', version: '1.0.0', set: { replicas: 2, name: 'x' } })], clusterSchemas)).toEqual(
      [],
    );
    expect(
      sorted(schemaProblems([chart({ chart: 'c', verison: '1.0.0', createNamespace: 'yes' }, { name: 'flux2', namespce: 'kube-system' })], clusterSchemas)),
    ).toEqual(
      sorted([
        'HelmChart/flux2 (helm.cattle.io/v1): spec.verison: unknown field',
        'HelmChart/flux2 (helm.cattle.io/v1): spec.createNamespace: expected boolean, got string "yes"',
        'HelmChart/flux2 (helm.cattle.io/v1): metadata.namespce: unknown field',
      ]),
    );
  });
});

describe('kinds without a schema', () => {
  it.each([
    ['example.com/v1', 'Widget'], // an unknown CRD
    ['extensions/v1beta1', 'Ingress'], // removed long before 1.36
    ['flowcontrol.apiserver.k8s.io/v1beta3', 'FlowSchema'], // beta versions are not offered
    ['resource.k8s.io/v1beta2', 'ResourceClaim'], // not even where a GA version exists
    ['helm.toolkit.fluxcd.io/v2', 'HelmRelease'], // newer than the Flux CRDs in the package
    ['source.toolkit.fluxcd.io/v1beta1', 'GitRepository'], // Flux v1beta1 APIs are not offered
  ])('reports %s %s instead of passing it', (apiVersion, kind) => {
    expect(schemaProblems([{ apiVersion, kind, metadata: { name: 'x' } }], clusterSchemas)).toEqual([
      `${kind}/x (${apiVersion}): no schema for ${apiVersion} ${kind} in ${clusterSchemas.name}`,
    ]);
  });

  it('leaves out the kinds it is told the pinned k3s does not serve', () => {
    const source = modelSource('networking.k8s.io/v1 less ServiceCIDR', [networkingV1], ['networking.k8s.io/v1/ServiceCIDR']);
    expect(source.validatorFor('networking.k8s.io/v1', 'ServiceCIDR')).toBeUndefined();
    expect(source.validatorFor('networking.k8s.io/v1', 'IPAddress')).toBeDefined();
  });

  it('offers the GA built-in kinds and the Flux kinds it names', () => {
    expect(kubernetesSchemas.kinds()).toEqual(
      expect.arrayContaining([
        'v1/Namespace',
        'v1/Service',
        'v1/ConfigMap',
        'v1/ServiceAccount',
        'apps/v1/Deployment',
        'apps/v1/DaemonSet',
        'networking.k8s.io/v1/NetworkPolicy',
        'networking.k8s.io/v1/Ingress',
        'rbac.authorization.k8s.io/v1/ClusterRole',
        // GA from 1.33 on, all served by a 1.36 API server
        'networking.k8s.io/v1/IPAddress',
        'networking.k8s.io/v1/ServiceCIDR',
        'resource.k8s.io/v1/ResourceClaim',
        'resource.k8s.io/v1/DeviceClass',
        'storage.k8s.io/v1/VolumeAttributesClass',
        'admissionregistration.k8s.io/v1/MutatingAdmissionPolicy',
      ]),
    );
    expect(kubernetesSchemas.kinds().filter((k) => /alpha|beta/.test(k))).toEqual([]);
    expect(fluxSchemas.kinds()).toEqual([
      'helm.toolkit.fluxcd.io/v2beta2/HelmRelease',
      'kustomize.toolkit.fluxcd.io/v1/Kustomization',
      'notification.toolkit.fluxcd.io/v1/Receiver',
      'notification.toolkit.fluxcd.io/v1beta3/Alert',
      'notification.toolkit.fluxcd.io/v1beta3/Provider',
      'source.toolkit.fluxcd.io/v1/GitRepository',
      'source.toolkit.fluxcd.io/v1beta2/Bucket',
      'source.toolkit.fluxcd.io/v1beta2/HelmChart',
      'source.toolkit.fluxcd.io/v1beta2/HelmRepository',
      'source.toolkit.fluxcd.io/v1beta2/OCIRepository',
    ]);
  });
});

describe('the schemas cluster/ is checked with', () => {
  it('catch a typo in every kind cluster/ renders, opt-in overlays included', () => {
    const objects = ['.', ...OPT_IN_OVERLAYS].flatMap((dir) => renderKustomization(join(root, 'cluster', dir)));
    expect(objects.length).toBeGreaterThan(0);
    for (const o of objects) {
      const typo = structuredClone(o);
      typo.metdata = {};
      if (isObject(typo.spec)) typo.spec.speling = 1;
      const expected = [`${idText(idOf(o))}: metdata: unknown field`];
      if (isObject(o.spec)) expected.push(`${idText(idOf(o))}: spec.speling: unknown field`);
      expect(sorted(schemaProblems([typo], clusterSchemas)), idText(idOf(o))).toEqual(sorted(expected));
    }
  });

  it('were chosen for the k3s minor version images/pi-k3s.yaml pins (revisit them when it moves)', () => {
    const spec = parse(readFileSync(join(root, 'images/pi-k3s.yaml'), 'utf8')) as { artifacts: { k3s: { version: string } } };
    expect(spec.artifacts.k3s.version.startsWith(`${schemaPins.k3sMinor}.`), spec.artifacts.k3s.version).toBe(true);
  });
});
