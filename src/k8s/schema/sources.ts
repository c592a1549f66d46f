import * as cnpgV1 from '@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1';
import { HelmRelease } from '@kubernetes-models/flux-cd/helm.toolkit.fluxcd.io/v2beta2';
import { Kustomization } from '@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1';
import { Receiver } from '@kubernetes-models/flux-cd/notification.toolkit.fluxcd.io/v1';
import { Alert, Provider } from '@kubernetes-models/flux-cd/notification.toolkit.fluxcd.io/v1beta3';
import { GitRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1';
import { Bucket, HelmChart, HelmRepository, OCIRepository } from '@kubernetes-models/flux-cd/source.toolkit.fluxcd.io/v1beta2';
import * as admissionregistrationV1 from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as apiextensionsV1 from 'kubernetes-models/apiextensions.k8s.io/v1';
import * as apiregistrationV1 from 'kubernetes-models/apiregistration.k8s.io/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV1 from 'kubernetes-models/autoscaling/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as certificatesV1 from 'kubernetes-models/certificates.k8s.io/v1';
import * as coordinationV1 from 'kubernetes-models/coordination.k8s.io/v1';
import * as discoveryV1 from 'kubernetes-models/discovery.k8s.io/v1';
import * as eventsV1 from 'kubernetes-models/events.k8s.io/v1';
import * as flowcontrolV1 from 'kubernetes-models/flowcontrol.apiserver.k8s.io/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as nodeV1 from 'kubernetes-models/node.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as resourceV1 from 'kubernetes-models/resource.k8s.io/v1';
import * as schedulingV1 from 'kubernetes-models/scheduling.k8s.io/v1';
import * as storageV1 from 'kubernetes-models/storage.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';
import { k3sHelmControllerSchemas } from './k3s-helm-controller.js';
import { modelSource } from './upstream.js';
import { combineSources } from './validate.js';

/*
 * The schemas every object rendered from cluster/ is validated against (test/unit/k8s/cluster.test.ts).
 * See README.md beside this file for where each comes from and its licence.
 *
 * k3s is pinned at v1.36.4+k3s1 (images/pi-k3s.yaml), i.e. Kubernetes 1.36. kubernetes-models 5.1.0
 * is generated from the Kubernetes v1.36.0 OpenAPI document (its CHANGELOG, 5.0.0: "Update to
 * Kubernetes v1.36.0"; 5.1.0 only adds schema exports), so built-in kinds are checked against the
 * cluster's own minor version (patch releases do not change the API).
 * Its package.json (and that of the @kubernetes-models/base, validate and apimachinery it pulls
 * in) asks for Node >= 22. That is the publisher's support policy (5.0.0 moved its tooling and CI
 * to Node 22 and 24), not something the code needs: nothing in the published code was found that
 * Node 20 lacks, and test/unit/k8s passes with it on kiln's Node 20. npm only warns (EBADENGINE)
 * on install. Should a later release really need Node 22, stay on 5.1.0 until kiln moves.
 * What still needs a reviewer:
 * - the OpenAPI document carries every field of a GA kind, including fields behind alpha feature
 *   gates that a default 1.36 API server drops: such a field passes here;
 * - only the GA group/versions a 1.36 API server serves by default are offered: no alpha or beta
 *   versions, and none of the removed APIs kubernetes-models still carries from older documents.
 *
 * Flux: @kubernetes-models/flux-cd 2.3.4 is generated from the Flux v2.2 CRDs (source-controller
 * v1.2.4, kustomize-controller v1.2.2, helm-controller v0.37.4, notification-controller v1.2.4, as
 * its package.json lists); cluster/bootstrap installs Flux v2.4 (source-controller v1.4.1,
 * kustomize-controller v1.4.0). It is the release closest to v2.4 (the next, 3.0.0, jumps to
 * source-controller v1.8.3 and kustomize-controller v1.8.4, and needs Node 22). A field Flux added after v2.2 is reported as unknown, and the APIs Flux
 * promoted later (helm.toolkit.fluxcd.io/v2, source.toolkit.fluxcd.io/v1 HelmRepository, ...) have
 * no schema yet: use the versions offered below or update the package.
 *
 * CloudNativePG: @kubernetes-models/cloudnative-pg 2.0.0 is generated (go-generate) from the Go API
 * types of cloudnative-pg v1.29.0 (`github.com/cloudnative-pg/cloudnative-pg v1.29.0` in the go.mod
 * of its source directory, third-party/cloudnative-pg in tommy351/kubernetes-models-ts, at the
 * "Version Packages" commit that published 2.0.0). cluster/apps/base/cloudnative-pg installs
 * operator 1.29.1 (chart 0.28.3): a patch release, whose API is the same minor's. Only
 * postgresql.cnpg.io/v1 is offered; the package's monitoring.coreos.com models are not, as
 * cluster/ runs no Prometheus operator.
 *
 * When k3s moves to another minor version, revisit these choices (test/unit/k8s/schema.test.ts
 * fails until `schemaPins.k3sMinor` is updated with them).
 */

export const schemaPins = {
  /** The k3s minor version these schemas were chosen for. */
  k3sMinor: 'v1.36',
  /** The Kubernetes OpenAPI document kubernetes-models 5.1.0 was generated from. */
  kubernetesOpenAPI: 'v1.36.0',
  /** The Flux release whose CRDs @kubernetes-models/flux-cd 2.3.4 was generated from. */
  fluxCRDs: 'v2.2',
  /** The cloudnative-pg release whose API types @kubernetes-models/cloudnative-pg 2.0.0 was generated from. */
  cloudnativePgAPI: 'v1.29.0',
} as const;

/**
 * Kinds GA in the schemas' Kubernetes version that the pinned k3s does not serve. None while both
 * are 1.36; when the package runs ahead of the pin again, list them here ("apiVersion/Kind") so
 * they are reported as having no schema instead of passing.
 */
const NOT_SERVED_BY_PINNED_K3S: readonly string[] = [];

export const kubernetesSchemas = modelSource(
  `Kubernetes ${schemaPins.kubernetesOpenAPI} OpenAPI (kubernetes-models 5.1.0)`,
  [
    coreV1,
    admissionregistrationV1,
    apiextensionsV1,
    apiregistrationV1,
    appsV1,
    autoscalingV1,
    autoscalingV2,
    batchV1,
    certificatesV1,
    coordinationV1,
    discoveryV1,
    eventsV1,
    flowcontrolV1,
    networkingV1,
    nodeV1,
    policyV1,
    rbacV1,
    resourceV1,
    schedulingV1,
    storageV1,
  ],
  NOT_SERVED_BY_PINNED_K3S,
);

export const fluxSchemas = modelSource(`Flux ${schemaPins.fluxCRDs} CRDs (@kubernetes-models/flux-cd 2.3.4)`, [
  { GitRepository, Kustomization, Receiver },
  // Versions Flux v2.2 has no GA version of yet; Flux v2.4 still serves them.
  { Bucket, HelmChart, HelmRepository, OCIRepository, HelmRelease, Alert, Provider },
]);

export const cloudnativePgSchemas = modelSource(`CloudNativePG ${schemaPins.cloudnativePgAPI} API (@kubernetes-models/cloudnative-pg 2.0.0)`, [cnpgV1]);

/** Built-in kinds, Flux, CloudNativePG and k3s' helm-controller: everything cluster/ may hold. */
export const clusterSchemas = combineSources(
  `${kubernetesSchemas.name} + ${fluxSchemas.name} + ${cloudnativePgSchemas.name} + ${k3sHelmControllerSchemas.name}`,
  [kubernetesSchemas, fluxSchemas, cloudnativePgSchemas, k3sHelmControllerSchemas],
);
