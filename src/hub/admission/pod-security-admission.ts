/**
 * Pod Security admission for Workloads, in the manner of Kubernetes' Pod
 * Security Admission: the namespace's `pod-security.kubernetes.io/enforce`
 * label names the level its Workloads' pods must meet (`baseline` when
 * unlabelled), `.../warn` a level that only warns. Labels are checked on
 * Namespaces; pods on Workloads.
 *
 * As in Kubernetes, changing a namespace's label does not re-check the
 * Workloads already in it, and an update that leaves a Workload's
 * `spec.resources` as they were (labels, status) is not checked either, so
 * that raising the level never blocks controllers writing status.
 */
import { isDeepStrictEqual } from 'node:util';
import type { FieldCause, KindDefinition, KubeObject } from '../../api/index.ts';
import type { AdmissionCheck, AdmissionRequest, AdmissionResult } from './admission.ts';
import { checkPod, POD_SECURITY_LEVELS, type PodSecurityLevel } from './pod-security.ts';
import { podsOfWorkload } from './workload-pods.ts';

/** The namespace label that sets the level enforced on its Workloads. */
export const ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';
/** The namespace label that sets a level only warned about. */
export const WARN_LABEL = 'pod-security.kubernetes.io/warn';
const LEVEL_LABELS = [ENFORCE_LABEL, WARN_LABEL, 'pod-security.kubernetes.io/audit'];

export interface PodSecurityAdmissionOptions {
  /** The level of a namespace without the enforce label. @default 'baseline' */
  readonly defaultLevel?: PodSecurityLevel;
  /**
   * Requesters whose Workload writes are not checked, as Kubernetes' `exemptions.usernames`.
   * @default [POD_SECURITY_EXEMPT_RENDERER]
   */
  readonly exemptUsers?: readonly string[];
}

/**
 * The user the OpcUaConnector renderer writes its Workloads as: exempt, because the pod it
 * renders is the hub's own and fixed (the connector image, with host networking so that it
 * reaches the agent's local MQTT endpoint on 127.0.0.1); users write only its configuration.
 */
export const POD_SECURITY_EXEMPT_RENDERER = 'system:outpost:opcua-renderer';

function isLevel(value: unknown): value is PodSecurityLevel {
  return (POD_SECURITY_LEVELS as readonly unknown[]).includes(value);
}

function isKind(def: KindDefinition, group: string, kind: string): boolean {
  return def.group === group && def.kind === kind;
}

/** Creates the Pod Security admission check (Workloads and Namespace labels); it answers synchronously. */
export function createPodSecurityAdmission(
  options: PodSecurityAdmissionOptions = {},
): Omit<AdmissionCheck, 'admit'> & { admit(request: AdmissionRequest): AdmissionResult } {
  const defaultLevel = options.defaultLevel ?? 'baseline';
  const exempt = new Set(options.exemptUsers ?? [POD_SECURITY_EXEMPT_RENDERER]);
  return {
    name: 'PodSecurity',
    handles: (def) => isKind(def, 'outpost.dev', 'Workload') || isKind(def, '', 'Namespace'),
    admit(request: AdmissionRequest): AdmissionResult {
      if (isKind(request.def, '', 'Namespace')) return { causes: checkNamespaceLabels(request.object) };
      if (request.requester && exempt.has(request.requester.user)) return { causes: [] };
      return admitWorkload(request, defaultLevel);
    },
  };
}

/** The level a namespace's label asks for; an invalid value counts as restricted, as in Kubernetes. */
export function levelOf(
  namespace: KubeObject | undefined,
  label: string,
  fallback: PodSecurityLevel,
): PodSecurityLevel {
  const value = namespace?.metadata.labels?.[label];
  if (value === undefined) return fallback;
  return isLevel(value) ? value : 'restricted';
}

function admitWorkload(request: AdmissionRequest, defaultLevel: PodSecurityLevel): AdmissionResult {
  const resources = (object: KubeObject | undefined) =>
    (object?.spec as { resources?: unknown } | undefined)?.resources;
  if (request.old && isDeepStrictEqual(resources(request.old), resources(request.object)))
    return { causes: [] };
  const pods = podsOfWorkload(request.object);
  const check = (level: PodSecurityLevel): FieldCause[] =>
    pods.flatMap((pod) => checkPod(pod, level, pod.paths));
  const causes = check(levelOf(request.namespace, ENFORCE_LABEL, defaultLevel));
  if (causes.length > 0 || request.namespace?.metadata.labels?.[WARN_LABEL] === undefined) return { causes };
  const warnings = check(levelOf(request.namespace, WARN_LABEL, defaultLevel)).map(
    (cause) => `${cause.message.replace(/^Forbidden: violates/, 'would violate')} (${cause.field})`,
  );
  return { causes, warnings };
}

function checkNamespaceLabels(namespace: KubeObject): FieldCause[] {
  const causes: FieldCause[] = [];
  for (const label of LEVEL_LABELS) {
    const value = namespace.metadata.labels?.[label];
    if (value !== undefined && !isLevel(value)) {
      causes.push({
        reason: 'FieldValueNotSupported',
        field: `metadata.labels[${label}]`,
        message: `Unsupported value: supported values: ${POD_SECURITY_LEVELS.map((level) => `"${level}"`).join(', ')}`,
      });
    }
  }
  return causes;
}
