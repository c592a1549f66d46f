import { describe, expect, it } from 'vitest';
import { chartProblems, imageProblems, type ImageTable } from '../../../src/k8s/check.js';
import { collectImages, unpinnedReason } from '../../../src/k8s/images.js';
import type { JsonObject } from '../../../src/k8s/types.js';

const table: ImageTable = {
  images: [
    { ref: 'quay.io/a/b:v1.2.3', platforms: ['linux/amd64', 'linux/arm64'] },
    { ref: 'quay.io/a/amd-only:1.0.0', platforms: ['linux/amd64'] },
  ],
  charts: [{ repo: 'https://charts.example.invalid', chart: 'c', version: '1.2.3' }],
};

function daemonSet(image: string): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'd', namespace: 'n' },
    spec: { template: { spec: { containers: [{ name: 'c', image }] } } },
  };
}

describe('image pinning', () => {
  it.each([
    ['quay.io/a/b:v1.2.3', undefined],
    [`quay.io/a/b@sha256:${'a'.repeat(64)}`, undefined],
    ['ghcr.io/cloudnative-pg/postgresql:18.3-system-trixie', undefined],
    ['quay.io/a/b:latest', 'tag "latest" is not a version'],
    ['quay.io/a/b:latest-1.2', 'tag "latest-1.2" is not a version'],
    ['quay.io/a/b', 'no tag or digest'],
    ['nginx:1.27.0', 'not a fully qualified reference (write registry/repository:tag, e.g. docker.io/library/x:1.2.3)'],
  ])('%s', (ref, why) => {
    expect(unpinnedReason(ref)).toBe(why);
  });

  it('finds images in pod templates and in HelmChart values', () => {
    const chart: JsonObject = {
      apiVersion: 'helm.cattle.io/v1',
      kind: 'HelmChart',
      metadata: { name: 'h', namespace: 'kube-system' },
      spec: { valuesContent: 'ctl:\n  image: quay.io/a/b\n  tag: v1.2.3\nother:\n  image: {repository: quay.io/x/y, tag: "2.0.0"}\n' },
    };
    expect(collectImages([daemonSet('quay.io/a/b:v1.2.3'), chart]).map((u) => u.image)).toEqual([
      'quay.io/a/b:v1.2.3',
      'quay.io/a/b:v1.2.3',
      'quay.io/x/y:2.0.0',
    ]);
  });

  it("finds a CloudNativePG Cluster's imageName, and reports a Cluster without one", () => {
    const cluster = (spec: JsonObject): JsonObject => ({
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: { name: 'db', namespace: 'n' },
      spec,
    });
    expect(collectImages([cluster({ instances: 3, imageName: 'ghcr.io/cloudnative-pg/postgresql:18.3-system-trixie' })])).toEqual([
      { image: 'ghcr.io/cloudnative-pg/postgresql:18.3-system-trixie', where: 'Cluster/n/db (postgresql.cnpg.io/v1) spec.imageName' },
    ]);
    expect(imageProblems([cluster({ instances: 3 })], table)).toEqual([
      'Cluster/n/db (postgresql.cnpg.io/v1) spec.imageName (no image): image "" is not pinned: not a fully qualified reference (write registry/repository:tag, e.g. docker.io/library/x:1.2.3)',
      'Cluster/n/db (postgresql.cnpg.io/v1) spec.imageName (no image): image "" is not in cluster/images.yaml',
    ]);
  });

  it('reports images missing from the table or without arm64', () => {
    expect(imageProblems([daemonSet('quay.io/a/b:v1.2.3')], table)).toEqual([]);
    expect(imageProblems([daemonSet('quay.io/a/c:v1.0.0')], table)).toEqual([
      'DaemonSet/n/d (apps/v1) containers[c]: image "quay.io/a/c:v1.0.0" is not in cluster/images.yaml',
    ]);
    expect(imageProblems([daemonSet('quay.io/a/amd-only:1.0.0')], table)).toEqual([
      'DaemonSet/n/d (apps/v1) containers[c]: image "quay.io/a/amd-only:1.0.0" lacks linux/arm64 in cluster/images.yaml',
    ]);
  });

  it('requires HelmCharts to pin a listed chart version', () => {
    const chart = (version: string): JsonObject => ({
      apiVersion: 'helm.cattle.io/v1',
      kind: 'HelmChart',
      metadata: { name: 'h' },
      spec: { repo: 'https://charts.example.invalid', chart: 'c', version },
    });
    expect(chartProblems([chart('1.2.3')], table)).toEqual([]);
    expect(chartProblems([chart('1.x')], table)).toEqual(['HelmChart/h (helm.cattle.io/v1): spec.version must be an exact chart version']);
    expect(chartProblems([chart('1.2.4')], table)).toHaveLength(1);
  });
});
