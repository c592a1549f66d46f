import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findKustomizations } from '../../../src/k8s/check.js';
import { renderKustomization } from '../../../src/k8s/kustomize.js';
import { sortObjects } from '../../../src/k8s/order.js';
import { dumpManifests, parseManifests } from '../../../src/k8s/yaml.js';
import { run } from '../../../src/util/exec.js';

// kiln renders cluster/ with its own kustomize subset (src/k8s) so checks need no kubectl. Where
// kubectl is installed, this proves the subset renders exactly what the real kustomize does
// (compared as sorted object sets: the two print objects in different orders).
const root = resolve(import.meta.dirname, '../../../cluster');
const kubectl = process.env.KILN_KUBECTL ?? 'kubectl';
// Only a kubectl with kustomize v5 or later counts: older ones (Debian 12's kubernetes-client is
// 1.20, kustomize v2) lack components and `labels`, so a difference would say nothing about us.
const kustomizeMajor = await run(kubectl, ['version', '--client']).then(
  (r) => Number(/Kustomize Version: v(\d+)/.exec(r.stdout)?.[1] ?? 0),
  () => 0,
);

describe.skipIf(kustomizeMajor < 5)('src/k8s renderer matches `kubectl kustomize`', () => {
  it.each(findKustomizations(root))('%s', async (dir) => {
    const { stdout } = await run(kubectl, ['kustomize', join(root, dir)]);
    const theirs = dumpManifests(sortObjects(parseManifests(stdout, `kubectl kustomize ${dir}`)));
    const ours = dumpManifests(sortObjects(renderKustomization(join(root, dir))));
    expect(ours).toBe(theirs);
  });
});
