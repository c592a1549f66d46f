import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderKustomization } from '../../../src/k8s/kustomize.js';
import { strategicMerge } from '../../../src/k8s/merge.js';
import type { JsonObject } from '../../../src/k8s/types.js';
import { tempDir } from '../../helpers/tmp.js';

function tree(files: Record<string, string>): string {
  const root = tempDir('kustomize');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: r.example/web:1.0.0, ports: [{containerPort: 80, name: http}], env: [{name: A, value: "1"}]}
        - {name: sidecar, image: r.example/side:1.0.0}
`;
const service = `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
`;
const clusterRole = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: []
`;

function names(objs: JsonObject[]): string[] {
  return objs.map((o) => `${String(o.kind)}/${JSON.stringify((o.metadata as JsonObject).namespace ?? '')}/${String((o.metadata as JsonObject).name)}`);
}

describe('renderKustomization', () => {
  it('loads files and nested directories, and sets the namespace on namespaced kinds only', () => {
    const root = tree({
      'base/kustomization.yaml': 'resources: [deploy.yaml]\n',
      'base/deploy.yaml': deployment,
      'overlay/kustomization.yaml': 'namespace: apps\nresources: [../base, svc.yaml, role.yaml]\n',
      'overlay/svc.yaml': service,
      'overlay/role.yaml': clusterRole,
    });
    expect(names(renderKustomization(join(root, 'overlay')))).toEqual(['Deployment/"apps"/web', 'Service/"apps"/web', 'ClusterRole/""/reader']);
  });

  it('applies commonLabels to metadata, selectors and pod templates', () => {
    const root = tree({ 'kustomization.yaml': 'commonLabels: {team: a}\nresources: [d.yaml, s.yaml]\n', 'd.yaml': deployment, 's.yaml': service });
    const [d, s] = renderKustomization(root) as [JsonObject, JsonObject];
    expect(d).toMatchObject({
      metadata: { labels: { app: 'web', team: 'a' } },
      spec: { selector: { matchLabels: { app: 'web', team: 'a' } }, template: { metadata: { labels: { app: 'web', team: 'a' } } } },
    });
    expect(s).toMatchObject({ metadata: { labels: { team: 'a' } }, spec: { selector: { app: 'web', team: 'a' } } });
  });

  it('leaves selectors alone for `labels` without includeSelectors', () => {
    const root = tree({ 'kustomization.yaml': 'labels: [{pairs: {team: a}}]\nresources: [s.yaml]\n', 's.yaml': service });
    expect(renderKustomization(root)[0]).toMatchObject({ metadata: { labels: { team: 'a' } }, spec: { selector: { app: 'web' } } });
  });

  it('applies strategic-merge patches from files and inline, by own id or target', () => {
    const root = tree({
      'kustomization.yaml': `resources: [d.yaml]
patches:
  - path: p.yaml
  - target: {kind: Deployment}
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: ignored}
      spec: {template: {spec: {containers: [{name: sidecar, image: r.example/side:2.0.0}]}}}
`,
      'd.yaml': deployment,
      'p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n',
    });
    const [d] = renderKustomization(root) as [JsonObject];
    expect(d).toMatchObject({ metadata: { name: 'web' }, spec: { replicas: 3 } });
    const containers = ((d.spec as JsonObject).template as JsonObject).spec as JsonObject;
    expect(containers.containers).toEqual([
      { name: 'web', image: 'r.example/web:1.0.0', ports: [{ containerPort: 80, name: 'http' }], env: [{ name: 'A', value: '1' }] },
      { name: 'sidecar', image: 'r.example/side:2.0.0' },
    ]);
  });

  it('lets a Component patch what its parent defined', () => {
    const root = tree({
      'kustomization.yaml': 'resources: [ns.yaml]\ncomponents: [policy]\n',
      'ns.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n',
      'policy/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [r.yaml]\npatches: [{path: label.yaml}]\n',
      'policy/r.yaml': clusterRole,
      'policy/label.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: "y"}}\n',
    });
    expect(renderKustomization(root)).toEqual([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a', labels: { x: 'y' } } },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'reader' }, rules: [] },
    ]);
  });

  it.each([
    ['an unsupported field', { 'kustomization.yaml': 'images: []\n' }, /field "images" is not supported/],
    ['a remote resource', { 'kustomization.yaml': 'resources: [https://example.invalid/x.yaml]\n' }, /remote resource/],
    ['a missing file', { 'kustomization.yaml': 'resources: [nope.yaml]\n' }, /nope.yaml does not exist/],
    ['a duplicate object', { 'kustomization.yaml': 'resources: [a.yaml, b.yaml]\n', 'a.yaml': service, 'b.yaml': service }, /defined twice/],
    [
      'a patch that matches nothing',
      {
        'kustomization.yaml': 'resources: [s.yaml]\npatches: [{path: p.yaml}]\n',
        's.yaml': service,
        'p.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {name: other}\n',
      },
      /matches no resource/,
    ],
    ['an object without a name', { 'kustomization.yaml': 'resources: [a.yaml]\n', 'a.yaml': 'apiVersion: v1\nkind: Service\nmetadata: {}\n' }, /metadata.name/],
    ['a Component rendered alone', { 'kustomization.yaml': 'kind: Component\n' }, /Component renders only/],
    [
      'a leading-zero number (octal to kubectl, decimal to YAML 1.2)',
      { 'kustomization.yaml': 'resources: [s.yaml]\n', 's.yaml': 'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nmode: 0440\n' },
      /0440 is octal to kubectl but decimal here/,
    ],
  ])('refuses %s with a clear error', (_why, files, message) => {
    expect(() => renderKustomization(tree(files))).toThrow(message);
  });
});

describe('strategicMerge', () => {
  it('merges maps, deletes on null and replaces lists without a merge key', () => {
    expect(strategicMerge({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: null, d: 3 }, l: [3] }, 't')).toEqual({ a: { b: 1, d: 3 }, l: [3] });
  });

  it('merges Service ports on port and container ports on containerPort', () => {
    const svc = strategicMerge({ spec: { ports: [{ port: 80, name: 'a' }] } }, { spec: { ports: [{ port: 80, name: 'b' }, { port: 81 }] } }, 't');
    expect(svc).toEqual({ spec: { ports: [{ port: 80, name: 'b' }, { port: 81 }] } });
  });

  it('refuses $patch directives instead of ignoring them', () => {
    expect(() => strategicMerge({ a: 1 }, { $patch: 'replace' }, 't')).toThrow(/not supported/);
  });
});
