import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chartProblems, findKustomizations, imageProblems, loadImageTable, schemaProblems } from '../../../src/k8s/check.js';
import { collectImages } from '../../../src/k8s/images.js';
import { renderKustomization } from '../../../src/k8s/kustomize.js';
import { sortObjects } from '../../../src/k8s/order.js';
import { clusterSchemas } from '../../../src/k8s/schema/sources.js';
import { idOf, isObject, type JsonObject } from '../../../src/k8s/types.js';
import { dumpManifests } from '../../../src/k8s/yaml.js';

// Checks on everything under cluster/: it renders, validates, pulls only reviewed pinned arm64
// images, keeps the policies we promise, and matches the committed snapshot in test/k8s-diff/.
// After an intended change, regenerate the snapshots and review their diff:
//   KILN_UPDATE_K8S_SNAPSHOTS=1 npx vitest run test/unit/k8s/cluster.test.ts

const root = resolve(import.meta.dirname, '../../..');
const clusterDir = join(root, 'cluster');
const snapshotDir = join(root, 'test/k8s-diff');
const update = process.env.KILN_UPDATE_K8S_SNAPSHOTS === '1';
const table = loadImageTable(join(clusterDir, 'images.yaml'));
const dirs = findKustomizations(clusterDir);
const rendered = new Map(dirs.map((d) => [d, sortObjects(renderKustomization(join(clusterDir, d)))]));
/** The Kubernetes minor ("v1.36") of the k3s the default image pins: the Pod Security levels follow it. */
const pinnedMinor = (() => {
  const spec = parse(readFileSync(join(root, 'images/pi-k3s.yaml'), 'utf8')) as { artifacts: { k3s: { version: string } } };
  const m = /^v\d+\.\d+(?=\.)/.exec(spec.artifacts.k3s.version);
  if (!m) throw new Error(`images/pi-k3s.yaml: artifacts.k3s.version ${JSON.stringify(spec.artifacts.k3s.version)} has no vX.Y.`);
  return m[0];
})();

/**
 * What Flux may apply: the root, the opt-in overlays an operator enables by listing them in
 * cluster/apps/kustomization.yaml (left out by default), and the paths of the Flux Kustomizations
 * those hold. The policy checks hold for each.
 */
const OPT_IN_OVERLAYS = ['apps/kiln', 'apps/kiln-external-db'];
const deployable = ['.', 'apps/kiln-external-db', 'apps/base/cloudnative-pg', 'apps/kiln/app'];

function snapshotName(dir: string): string {
  return `${dir === '.' ? 'cluster' : dir.replaceAll('/', '__')}.yaml`;
}

describe('cluster/', () => {
  it('has the kustomizations the GitOps layout promises', () => {
    expect(dirs).toEqual(expect.arrayContaining(['.', 'bootstrap', 'base', 'apps', 'apps/example', ...OPT_IN_OVERLAYS]));
  });

  describe.each(dirs)('kustomization %s', (dir) => {
    const objects = rendered.get(dir) ?? [];

    it('renders at least one object', () => {
      expect(objects.length).toBeGreaterThan(0);
    });

    it('validates against the upstream-generated schemas (src/k8s/schema)', () => {
      expect(schemaProblems(objects, clusterSchemas)).toEqual([]);
    });

    it('uses only pinned, reviewed, arm64 images and pinned charts', () => {
      expect([...imageProblems(objects, table), ...chartProblems(objects, table)]).toEqual([]);
    });

    it('matches its committed snapshot (test/k8s-diff)', () => {
      const file = join(snapshotDir, snapshotName(dir));
      const header = `# Rendered from cluster/${dir === '.' ? '' : dir} by src/k8s (kiln's kustomize subset). Do not edit:\n# KILN_UPDATE_K8S_SNAPSHOTS=1 npx vitest run test/unit/k8s/cluster.test.ts\n`;
      const text = header + dumpManifests(objects);
      if (update || !existsSync(file)) {
        mkdirSync(snapshotDir, { recursive: true });
        writeFileSync(file, text);
        if (!update) throw new Error(`${file} did not exist and was written: review and commit it`);
      }
      expect(text).toBe(readFileSync(file, 'utf8'));
    });
  });

  it('has no snapshot left over from a removed kustomization', () => {
    const expected = new Set(dirs.map(snapshotName));
    const stale = readdirYaml(snapshotDir).filter((f) => !expected.has(f));
    expect(stale).toEqual([]);
  });

  it('points every Flux Kustomization at a kustomization of this tree (root ./cluster)', () => {
    const flux = [...rendered.values()].flat().filter((o) => o.kind === 'Kustomization' && String(o.apiVersion).startsWith('kustomize.toolkit.fluxcd.io/'));
    expect(flux.length).toBeGreaterThan(0);
    for (const k of flux) {
      const path = isObject(k.spec) && typeof k.spec.path === 'string' ? k.spec.path : '';
      const dir = relative(clusterDir, resolve(root, path)) || '.';
      expect(dirs, `${idOf(k).name}: spec.path ${path}`).toContain(dir);
      expect(deployable, `${idOf(k).name}: ${dir} must get the policy checks`).toContain(dir);
    }
  });

  it('lists no image in cluster/images.yaml that nothing uses', () => {
    const used = new Set([...rendered.values()].flatMap((objs) => collectImages(objs).map((u) => u.image)));
    expect(table.images.map((i) => i.ref).filter((r) => !used.has(r))).toEqual([]);
  });

  describe.each(deployable)('policies (full render of cluster/%s)', (dir) => {
    const all = rendered.get(dir) ?? [];
    const namespaces = all.filter((o) => o.kind === 'Namespace');

    it('gives every namespace a Pod Security enforce level pinned to the k3s minor images/pi-k3s.yaml pins', () => {
      for (const ns of namespaces) {
        const labels = isObject(ns.metadata) && isObject(ns.metadata.labels) ? ns.metadata.labels : {};
        expect(labels['pod-security.kubernetes.io/enforce'], idOf(ns).name).toMatch(/^(restricted|baseline|privileged)$/);
        expect(labels['pod-security.kubernetes.io/enforce-version'], idOf(ns).name).toBe(pinnedMinor);
      }
    });

    it.runIf(dir === '.')('puts app namespaces at the restricted level', () => {
      const demo = namespaces.find((n) => idOf(n).name === 'demo');
      expect(demo && isObject(demo.metadata) && isObject(demo.metadata.labels) ? demo.metadata.labels['pod-security.kubernetes.io/enforce'] : undefined).toBe(
        'restricted',
      );
    });

    it('has a default-deny NetworkPolicy in every namespace that runs pods', () => {
      const withPods = new Set(all.filter((o) => collectImages([o]).length > 0 && o.kind !== 'HelmChart').map((o) => idOf(o).namespace));
      for (const ns of withPods) {
        const denies = all.filter((o) => o.kind === 'NetworkPolicy' && idOf(o).namespace === ns && isDefaultDeny(o));
        expect(denies.length, `default-deny in ${ns}`).toBe(1);
      }
    });

    it('never lets a ServiceAccount or group read Secrets cluster-wide', () => {
      for (const role of all.filter((o) => o.kind === 'ClusterRole')) {
        const rules = Array.isArray(role.rules) ? role.rules : [];
        for (const r of rules) {
          const resources = isObject(r) && Array.isArray(r.resources) ? r.resources : [];
          expect(resources, idOf(role).name).not.toContain('secrets');
          expect(resources, idOf(role).name).not.toContain('*');
        }
      }
    });
  });
});

function isDefaultDeny(o: JsonObject): boolean {
  const spec = isObject(o.spec) ? o.spec : {};
  const selector = isObject(spec.podSelector) ? spec.podSelector : undefined;
  const types = Array.isArray(spec.policyTypes) ? spec.policyTypes : [];
  return (
    selector !== undefined &&
    Object.keys(selector).length === 0 &&
    types.includes('Ingress') &&
    types.includes('Egress') &&
    spec.ingress === undefined &&
    spec.egress === undefined
  );
}

function readdirYaml(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')) : [];
}
