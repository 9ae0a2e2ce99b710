/**
 * Admission: checks every write passes after validation and before the store,
 * as the Kubernetes apiserver's validating admission plugins. The
 * ObjectService runs them (with the namespace object at hand); the rules live
 * here. Today: Pod Security admission for Workloads; Devices' places in the
 * nested network (device-topology.ts: parent exists, no cycle, levels descend); the status fields of a
 * Device only the hub writes, refused to the device itself (hub-owned-status.ts); Workloads' references
 * to device profiles (profile-references.ts, given the Devices); and the rule that
 * answers about kinds holding secret data never quote what was sent.
 */

export type { AdmissionCheck, AdmissionRequest, AdmissionResult, Requester } from './admission.ts';
export {
  createDeviceTopologyAdmission,
  type DeviceTopologyAdmissionOptions,
  nodeOf,
  type TopologyNode,
} from './device-topology.ts';
export { createHubOwnedStatusAdmission, HUB_OWNED_DEVICE_STATUS } from './hub-owned-status.ts';
export {
  BASELINE_CAPABILITIES,
  checkPod,
  POD_SECURITY_LEVELS,
  type PodPaths,
  type PodSecurityLevel,
} from './pod-security.ts';
export {
  createPodSecurityAdmission,
  ENFORCE_LABEL,
  levelOf,
  POD_SECURITY_EXEMPT_RENDERER,
  type PodSecurityAdmissionOptions,
  WARN_LABEL,
} from './pod-security-admission.ts';
export {
  createProfileReferenceAdmission,
  type ProfileReferenceAdmissionOptions,
} from './profile-references.ts';
export { holdsSecretData, redactQuoted } from './secret-redaction.ts';
export { type DeclaredPod, declaredPods, podsOfWorkload } from './workload-pods.ts';

import type { AdmissionCheck } from './admission.ts';
import { createHubOwnedStatusAdmission } from './hub-owned-status.ts';
import { createPodSecurityAdmission } from './pod-security-admission.ts';

/** The admission checks every hub runs, in order. */
export function defaultAdmission(): readonly AdmissionCheck[] {
  return [createPodSecurityAdmission(), createHubOwnedStatusAdmission()];
}
