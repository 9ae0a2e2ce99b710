/**
 * Finds the pods a Workload would run: each Pod manifest in `spec.resources`,
 * and the pod template of each Deployment and StatefulSet, with the field
 * paths that name their parts in the Workload.
 */
import type { KubeObject } from '../../api/index.ts';
import type { PodPaths } from './pod-security.ts';

/** One pod a Workload declares, as written, and where it sits. */
export interface DeclaredPod {
  readonly metadata: unknown;
  readonly spec: unknown;
  readonly paths: PodPaths;
}

/** Kinds whose pod sits under `spec.template` (the controllers the agent runs). */
const TEMPLATED_KINDS: ReadonlySet<string> = new Set(['Deployment', 'StatefulSet']);

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The pods of `resources` (a Workload's `spec.resources`), rooted at `path`. */
export function declaredPods(resources: unknown, path = 'spec.resources'): DeclaredPod[] {
  const pods: DeclaredPod[] = [];
  if (!Array.isArray(resources)) return pods;
  resources.forEach((raw, index) => {
    const resource = record(raw);
    const at = `${path}[${index}]`;
    if (resource?.kind === 'Pod') {
      pods.push({
        metadata: resource.metadata,
        spec: resource.spec,
        paths: { metadata: `${at}.metadata`, spec: `${at}.spec` },
      });
    } else if (typeof resource?.kind === 'string' && TEMPLATED_KINDS.has(resource.kind)) {
      const template = record(record(resource.spec)?.template);
      pods.push({
        metadata: template?.metadata,
        spec: template?.spec,
        paths: { metadata: `${at}.spec.template.metadata`, spec: `${at}.spec.template.spec` },
      });
    }
  });
  return pods;
}

/** The pods of a Workload object. */
export function podsOfWorkload(workload: KubeObject): DeclaredPod[] {
  return declaredPods(record(workload.spec)?.resources);
}
