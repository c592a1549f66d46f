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
 * k3s is pinned at v1.31.4+k3s1 (images/pi-k3s.yaml). No schema set generated from the Kubernetes
 * 1.31 OpenAPI document can be installed here: the npm registry and Debian are the only sources
 * reachable. The generated one closest to 1.31 is kubernetes-models 4.5.1, built from the
 * Kubernetes v1.33.0 OpenAPI document (its CHANGELOG, 4.5.0: "Update schema version to v1.33.0";
 * the releases before it are v1.27.1; from 5.0.0 on they are v1.36.0 and need Node 22). So built-in kinds
 * are checked against **Kubernetes 1.33.0**, two minor versions ahead of the cluster. What that means:
 * - a field or enum value added in 1.32 or 1.33 (e.g. PodSpec.resources, Lifecycle.stopSignal) is
 *   accepted here although the 1.31 API server drops or rejects it: review such fields by hand;
 * - kinds that became GA after 1.31 are left out (below), so they are reported as having no schema;
 * - only the GA group/versions a 1.31 API server serves by default are offered: no alpha or beta
 *   versions, and none of the APIs removed before 1.31 that kubernetes-models still carries.
 *
 * Flux: @kubernetes-models/flux-cd 2.3.4 is generated from the Flux v2.2 CRDs (source-controller
 * v1.2.4, kustomize-controller v1.2.2, helm-controller v0.37.4, notification-controller v1.2.4, as
 * its package.json lists); cluster/bootstrap installs Flux v2.4 (source-controller v1.4.1,
 * kustomize-controller v1.4.0). It is the release closest to v2.4 (the next, 3.0.0, jumps to
 * source-controller v1.8.3 and kustomize-controller v1.8.4, and needs Node 22). A field Flux added after v2.2 is reported as unknown, and the APIs Flux
 * promoted later (helm.toolkit.fluxcd.io/v2, source.toolkit.fluxcd.io/v1 HelmRepository, ...) have
 * no schema yet: use the versions offered below or update the package.
 *
 * When k3s moves to another minor version, revisit these choices (test/unit/k8s/schema.test.ts
 * fails until `schemaPins.k3sMinor` is updated with them).
 */

export const schemaPins = {
  /** The k3s minor version these schemas were chosen for. */
  k3sMinor: 'v1.31',
  /** The Kubernetes OpenAPI document kubernetes-models 4.5.1 was generated from. */
  kubernetesOpenAPI: 'v1.33.0',
  /** The Flux release whose CRDs @kubernetes-models/flux-cd 2.3.4 was generated from. */
  fluxCRDs: 'v2.2',
} as const;

/** Kinds that are GA in Kubernetes 1.33 but not served by a 1.31 API server. */
const NEWER_THAN_1_31 = ['networking.k8s.io/v1/IPAddress', 'networking.k8s.io/v1/ServiceCIDR'];

export const kubernetesSchemas = modelSource(
  `Kubernetes ${schemaPins.kubernetesOpenAPI} OpenAPI (kubernetes-models 4.5.1)`,
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
    schedulingV1,
    storageV1,
  ],
  NEWER_THAN_1_31,
);

export const fluxSchemas = modelSource(`Flux ${schemaPins.fluxCRDs} CRDs (@kubernetes-models/flux-cd 2.3.4)`, [
  { GitRepository, Kustomization, Receiver },
  // Versions Flux v2.2 has no GA version of yet; Flux v2.4 still serves them.
  { Bucket, HelmChart, HelmRepository, OCIRepository, HelmRelease, Alert, Provider },
]);

/** Built-in kinds, Flux, and k3s' helm-controller: everything cluster/ may hold. */
export const clusterSchemas = combineSources(`${kubernetesSchemas.name} + ${fluxSchemas.name} + ${k3sHelmControllerSchemas.name}`, [
  kubernetesSchemas,
  fluxSchemas,
  k3sHelmControllerSchemas,
]);
