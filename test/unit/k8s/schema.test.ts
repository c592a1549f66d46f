import { describe, expect, it } from 'vitest';
import { schemaProblems } from '../../../src/k8s/check.js';
import { k8s131Subset } from '../../../src/k8s/schema/k8s-1.31.js';
import type { JsonObject } from '../../../src/k8s/types.js';

function deployment(container: JsonObject, spec: JsonObject = {}): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [container] } }, ...spec },
  };
}

describe('Kubernetes 1.31 schema subset', () => {
  it('accepts a well-formed Deployment', () => {
    expect(schemaProblems([deployment({ name: 'c', image: 'r.example/x:1.0.0', ports: [{ containerPort: 80 }] })], k8s131Subset)).toEqual([]);
  });

  it('reports a misspelt field with its path', () => {
    expect(schemaProblems([deployment({ name: 'c', imagePullPolicy: 'Always', imagee: 'x' })], k8s131Subset)).toEqual([
      'Deployment/web (apps/v1): spec.template.spec.containers[0].imagee: unknown field',
    ]);
  });

  it('reports wrong types, bad enums and missing required fields', () => {
    const problems = schemaProblems(
      [deployment({ image: 'x', ports: [{ containerPort: '80', protocol: 'tcp' }] }, { replicas: 'two' })],
      k8s131Subset,
    );
    expect([...problems].sort()).toEqual([
      'Deployment/web (apps/v1): spec.replicas: expected integer, got string "two"',
      'Deployment/web (apps/v1): spec.template.spec.containers[0].name: is required',
      'Deployment/web (apps/v1): spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string "80"',
      'Deployment/web (apps/v1): spec.template.spec.containers[0].ports[0].protocol: must be one of TCP, UDP, SCTP, got "tcp"',
    ].sort());
  });

  it('accepts int-or-string ports and rejects other types there', () => {
    const ok = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: 'http' }] } };
    const bad = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80, targetPort: true }] } };
    expect(schemaProblems([ok], k8s131Subset)).toEqual([]);
    expect(schemaProblems([bad], k8s131Subset)).toEqual(['Service/s (v1): spec.ports[0].targetPort: expected integer or string, got boolean true']);
  });

  it('names kinds it has no schema for instead of passing them', () => {
    expect(schemaProblems([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }], k8s131Subset)).toEqual([
      'Pod/p (v1): no schema for v1 Pod in kiln hand-written subset of Kubernetes 1.31 (+ k3s helm.cattle.io/v1)',
    ]);
  });
});
