import Type from 'typebox';
import type { KindDefinition } from './kind.ts';
import { ageColumn, FreeForm, LabelSelector, objectSchema, StringMap } from './meta.ts';
import { RolloutSummary, summaryColumns } from './summary.ts';

const JsonPatchOperation = FreeForm(
  Type.Object({
    op: Type.Enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
    path: Type.String(),
  }),
);

export const PlacementSchema = objectSchema('outpost.dev/v1alpha1', 'Placement', 'Where Workloads run.', {
  spec: Type.Object({
    workloadSelector: Type.Object(
      {
        names: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { 'x-kubernetes-list-type': 'set' })),
        matchLabels: Type.Optional(StringMap),
        matchExpressions: Type.Optional(LabelSelector.properties.matchExpressions),
      },
      { description: 'Workloads of this namespace, by name and/or labels.' },
    ),
    deviceSelector: LabelSelector,
    customization: Type.Optional(
      Type.Object({
        overrides: Type.Optional(
          Type.Array(
            Type.Object({
              deviceSelector: LabelSelector,
              target: Type.Optional(
                Type.Object({ kind: Type.Optional(Type.String()), name: Type.Optional(Type.String()) }),
              ),
              patch: Type.Array(JsonPatchOperation, { description: 'A JSON patch (RFC 6902).' }),
            }),
          ),
        ),
      }),
    ),
    rollout: Type.Optional(
      Type.Object({
        maxUnavailable: Type.Optional(Type.Integer({ minimum: 0 })),
        batchSize: Type.Optional(Type.Integer({ minimum: 1 })),
      }),
    ),
  }),
  status: Type.Optional(RolloutSummary),
});
export type Placement = Type.Static<typeof PlacementSchema>;

export const placementKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'Placement',
  plural: 'placements',
  singular: 'placement',
  shortNames: ['pl'],
  categories: ['outpost'],
  namespaced: true,
  schema: PlacementSchema,
  description: 'Where Workloads run: selects Workloads of its namespace and Devices by label.',
  statusSubresource: true,
  strategicMergePatch: false,
  printerColumns: [...summaryColumns(['matched', 'applied', 'running', 'failed', 'unreachable']), ageColumn],
};
