// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
import Type from 'typebox';
import type { FieldCause, KindDefinition } from './kind.ts';
import { ageColumn, FreeForm, LabelSelector, objectSchema, StringMap } from './meta.ts';
import { labelCauses, qualifiedNameProblem } from './names.ts';
import { RolloutSpec, RolloutStatus, rolloutColumns, validateRollout } from './rollout.ts';
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
        names: Type.Optional(
          Type.Array(Type.String({ minLength: 1 }), {
            'x-kubernetes-list-type': 'set',
            description:
              'Workload names; with matchLabels/matchExpressions too, a Workload must satisfy both.',
          }),
        ),
        matchLabels: Type.Optional(StringMap),
        matchExpressions: Type.Optional(LabelSelector.properties.matchExpressions),
      },
      { description: 'Workloads of this namespace, by name and/or labels; empty selects them all.' },
    ),
    deviceSelector: LabelSelector,
    customization: Type.Optional(
      Type.Object({
        overrides: Type.Optional(
          Type.Array(
            Type.Object({
              deviceSelector: LabelSelector,
              target: Type.Optional(
                Type.Object(
                  { kind: Type.Optional(Type.String()), name: Type.Optional(Type.String()) },
                  { description: 'Only objects of this kind and/or name (as written in the Workload).' },
                ),
              ),
              patch: Type.Array(JsonPatchOperation, {
                description:
                  'A JSON patch (RFC 6902), applied before ${device...} parameters are expanded (its values may use them).',
              }),
            }),
            {
              description:
                'Applied in order to the objects of the devices each deviceSelector matches; a patch that cannot apply to an object leaves it out of that device (reported in status).',
            },
          ),
        ),
      }),
    ),
    rollout: Type.Optional(RolloutSpec),
  }),
  status: Type.Optional(Type.Object({ ...RolloutSummary.properties, rollout: Type.Optional(RolloutStatus) })),
});
export type Placement = Type.Static<typeof PlacementSchema>;

export const placementKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'Placement',
  plural: 'placements',
  singular: 'placement',
  shortNames: ['pl'],
  // Workload-facing, as Kubernetes' Deployments: `kubectl get all` lists them.
  categories: ['all', 'outpost'],
  namespaced: true,
  schema: PlacementSchema,
  description: 'Where Workloads run: selects Workloads of its namespace and Devices by label.',
  statusSubresource: true,
  strategicMergePatch: false,
  printerColumns: [
    ...summaryColumns(['matched', 'applied', 'running', 'failed', 'unreachable']),
    ...rolloutColumns,
    ageColumn,
  ],
  validate: (object) => validatePlacement(object.spec as Placement['spec'] | undefined),
};

type SelectorShape = {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: ReadonlyArray<{ key: string; operator: string; values?: readonly string[] }>;
};

/** Semantic checks beyond the schema: selector expressions and every override's JSON patch. */
export function validatePlacement(spec: Placement['spec'] | undefined): FieldCause[] {
  if (!spec) return [];
  const causes: FieldCause[] = [];
  checkSelector(spec.workloadSelector, 'spec.workloadSelector', causes);
  checkSelector(spec.deviceSelector, 'spec.deviceSelector', causes);
  spec.rollout?.batches?.forEach((batch, index) => {
    if (batch.selector) checkSelector(batch.selector, `spec.rollout.batches[${index}].selector`, causes);
  });
  causes.push(...validateRollout(spec.rollout));
  spec.customization?.overrides?.forEach((override, index) => {
    const field = `spec.customization.overrides[${index}]`;
    checkSelector(override.deviceSelector, `${field}.deviceSelector`, causes);
    override.patch.forEach((operation, opIndex) => {
      checkOperation(operation as Record<string, unknown>, `${field}.patch[${opIndex}]`, causes);
    });
  });
  return causes;
}

function checkSelector(selector: SelectorShape | undefined, field: string, causes: FieldCause[]): void {
  causes.push(...labelCauses(selector?.matchLabels ?? {}, `${field}.matchLabels`));
  selector?.matchExpressions?.forEach((expression, index) => {
    const values = expression.values ?? [];
    const where = `${field}.matchExpressions[${index}].values`;
    const keyProblem = qualifiedNameProblem(expression.key);
    if (keyProblem)
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${field}.matchExpressions[${index}].key`,
        message: `Invalid value: "${expression.key}": ${keyProblem}`,
      });
    values.forEach((value, valueIndex) => {
      for (const cause of labelCauses({ key: value }, `${where}[${valueIndex}]`)) causes.push(cause);
    });
    if ((expression.operator === 'In' || expression.operator === 'NotIn') && values.length === 0) {
      causes.push({
        reason: 'FieldValueRequired',
        field: where,
        message: `Required value: must be specified when \`operator\` is '${expression.operator}'`,
      });
    }
    if ((expression.operator === 'Exists' || expression.operator === 'DoesNotExist') && values.length > 0) {
      causes.push({
        reason: 'FieldValueForbidden',
        field: where,
        message: `Forbidden: may not be specified when \`operator\` is '${expression.operator}'`,
      });
    }
  });
}

/** One JSON patch operation: a JSON pointer path, `from` for move/copy, `value` for add/replace/test. */
function checkOperation(operation: Record<string, unknown>, field: string, causes: FieldCause[]): void {
  const op = operation.op as string;
  checkPointer(operation.path, `${field}.path`, causes);
  if (op === 'move' || op === 'copy') {
    if (operation.from === undefined) {
      causes.push({
        reason: 'FieldValueRequired',
        field: `${field}.from`,
        message: `Required value: "${op}" needs a from pointer`,
      });
    } else {
      checkPointer(operation.from, `${field}.from`, causes);
    }
  }
  if ((op === 'add' || op === 'replace' || op === 'test') && !('value' in operation)) {
    causes.push({
      reason: 'FieldValueRequired',
      field: `${field}.value`,
      message: `Required value: "${op}" needs a value`,
    });
  }
  if (op === 'remove' && operation.path === '') {
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${field}.path`,
      message: 'Invalid value: "": cannot remove the whole object',
    });
  }
}

/** RFC 6901: empty, or `/`-separated tokens in which `~` appears only as `~0` or `~1`. */
function checkPointer(pointer: unknown, field: string, causes: FieldCause[]): void {
  if (typeof pointer !== 'string') {
    causes.push({
      reason: 'FieldValueInvalid',
      field,
      message: 'Invalid value: must be a JSON pointer string',
    });
  } else if ((pointer !== '' && !pointer.startsWith('/')) || /~(?![01])/.test(pointer)) {
    causes.push({
      reason: 'FieldValueInvalid',
      field,
      message: `Invalid value: ${JSON.stringify(pointer)}: not a JSON pointer (must be empty or start with "/", "~" only as "~0" or "~1")`,
    });
  }
}
