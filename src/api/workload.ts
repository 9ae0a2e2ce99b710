import Type from 'typebox';
import type { FieldCause, KindDefinition, KubeObject } from './kind.ts';
import { embeddedObjectCauses, KUBERNETES_OBJECT } from './kubernetes/index.ts';
import { ageColumn, EmbeddedObject, objectSchema } from './meta.ts';
import { validateWorkloadPolicies, WorkloadCron, WorkloadProfiles, WorkloadRetry } from './profile-schema.ts';
import { RolloutSummary, summaryColumns } from './summary.ts';
import { uploadCauses, WorkloadUploads } from './upload-schema.ts';

/** The kinds a Workload may hold; the agent knows how to run each. */
export const WORKLOAD_RESOURCE_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'ConfigMap', 'Secret'] as const;

export const WorkloadSchema = objectSchema('outpost.dev/v1alpha1', 'Workload', 'What to run on devices.', {
  spec: Type.Object(
    {
      resources: Type.Array(
        { ...EmbeddedObject, [KUBERNETES_OBJECT]: true },
        {
          minItems: 1,
          description: `Kubernetes objects to run, one of: ${WORKLOAD_RESOURCE_KINDS.join(', ')}.`,
        },
      ),
      rootless: Type.Optional(
        Type.Boolean({ description: 'Run containers as an unprivileged user (podman).' }),
      ),
      profiles: Type.Optional(WorkloadProfiles),
      retry: Type.Optional(WorkloadRetry),
      cron: Type.Optional(WorkloadCron),
      uploads: Type.Optional(WorkloadUploads),
    },
    { description: 'What to run.' },
  ),
  status: Type.Optional(RolloutSummary),
});
export type Workload = Type.Static<typeof WorkloadSchema>;

export const workloadKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'Workload',
  plural: 'workloads',
  singular: 'workload',
  shortNames: ['wl'],
  // Workload-facing, as Kubernetes' Deployments: `kubectl get all` lists them.
  categories: ['all', 'outpost'],
  namespaced: true,
  schema: WorkloadSchema,
  description: 'What to run on devices: Kubernetes objects, declared once and placed by Placements.',
  statusSubresource: true,
  strategicMergePatch: false,
  printerColumns: [
    {
      name: 'Resources',
      type: 'integer',
      description: 'Number of objects.',
      cell: (o) => (o.spec as Workload['spec'] | undefined)?.resources?.length,
    },
    ...summaryColumns(['matched', 'running', 'failed', 'unreachable']),
    ageColumn,
  ],
  validate(object) {
    const causes: FieldCause[] = [];
    const resources = (object.spec as Workload['spec'] | undefined)?.resources ?? [];
    const seen = new Set<string>();
    resources.forEach((resource, index) => {
      if (!(WORKLOAD_RESOURCE_KINDS as readonly string[]).includes(resource.kind)) {
        causes.push({
          reason: 'FieldValueNotSupported',
          field: `spec.resources[${index}].kind`,
          message: `Unsupported value: "${resource.kind}": supported values: ${WORKLOAD_RESOURCE_KINDS.map((k) => `"${k}"`).join(', ')}`,
        });
      }
      const id = `${resource.kind}/${resource.metadata.namespace ?? ''}/${resource.metadata.name}`;
      if (seen.has(id)) {
        causes.push({
          reason: 'FieldValueDuplicate',
          field: `spec.resources[${index}]`,
          message: `Duplicate value: ${resource.kind} "${resource.metadata.name}"`,
        });
      }
      seen.add(id);
      causes.push(...embeddedObjectCauses(resource, `spec.resources[${index}]`));
    });
    causes.push(...validateWorkloadPolicies(object));
    causes.push(...uploadCauses((object.spec as Workload['spec'] | undefined)?.uploads));
    if ((object.spec as Workload['spec'] | undefined)?.cron) causes.push(...cronResourceCauses(object));
    return causes;
  },
};

/**
 * A cron Workload runs its Pods to completion: it holds no Deployment or
 * StatefulSet (which never complete), no Pod that restarts `Always`, and
 * no profiles (a held schedule is not built yet).
 */
function cronResourceCauses(object: KubeObject): FieldCause[] {
  const spec = object.spec as Workload['spec'];
  const causes: FieldCause[] = [];
  spec.resources.forEach((resource, index) => {
    if (resource.kind === 'Deployment' || resource.kind === 'StatefulSet')
      causes.push({
        reason: 'FieldValueForbidden',
        field: `spec.resources[${index}].kind`,
        message: `Forbidden: a Workload with spec.cron runs Pods to completion, not a ${resource.kind}`,
      });
    const restartPolicy = (resource as { spec?: { restartPolicy?: unknown } }).spec?.restartPolicy;
    if (resource.kind === 'Pod' && restartPolicy === 'Always')
      causes.push({
        reason: 'FieldValueNotSupported',
        field: `spec.resources[${index}].spec.restartPolicy`,
        message:
          'Unsupported value: "Always": supported values: "OnFailure", "Never" (a Workload with spec.cron; default Never)',
      });
  });
  if (spec.profiles?.length)
    causes.push({
      reason: 'FieldValueForbidden',
      field: 'spec.profiles',
      message: 'Forbidden: a Workload with spec.cron cannot be gated by profiles yet',
    });
  return causes;
}
