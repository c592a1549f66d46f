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
const available = await run(kubectl, ['version', '--client']).then(() => true, () => false);

describe.skipIf(!available)('src/k8s renderer matches `kubectl kustomize`', () => {
  it.each(findKustomizations(root))('%s', async (dir) => {
    const { stdout } = await run(kubectl, ['kustomize', join(root, dir)]);
    const theirs = dumpManifests(sortObjects(parseManifests(stdout, `kubectl kustomize ${dir}`)));
    const ours = dumpManifests(sortObjects(renderKustomization(join(root, dir))));
    expect(ours).toBe(theirs);
  });
});
