import Type from 'typebox';
import type { FieldCause, KindDefinition } from './kind.ts';
import { ageColumn, LabelSelector, objectSchema } from './meta.ts';
import { validatePlacement } from './placement.ts';

export const DeviceBoundarySchema = objectSchema(
  'outpost.dev/v1alpha1',
  'DeviceBoundary',
  'Which devices the Placements of some namespaces may place on.',
  {
    spec: Type.Object({
      namespaces: Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        'x-kubernetes-list-type': 'set',
        description: 'The namespaces bounded: their Placements select only devices this selector matches.',
      }),
      deviceSelector: {
        ...LabelSelector,
        description:
          "ANDed with every Placement's deviceSelector in these namespaces (and with every other boundary naming them); an empty selector allows every device.",
      },
    }),
  },
);
export type DeviceBoundary = Type.Static<typeof DeviceBoundarySchema>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A DeviceBoundary bounds namespaces to devices, in the spirit of
 * Kubernetes' PodNodeSelector but as a cluster-scoped object of its own: only
 * callers RBAC lets write `deviceboundaries` cluster-wide (infrastructure
 * admins) can change one, a RoleBinding in a team's namespace can never grant
 * that, and the selector is validated when written (no annotation to
 * mistype). Several boundaries naming one namespace all apply (ANDed): adding
 * a boundary can only narrow what a namespace reaches.
 */
export const deviceBoundaryKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'DeviceBoundary',
  plural: 'deviceboundaries',
  singular: 'deviceboundary',
  shortNames: ['dbound'],
  categories: ['outpost'],
  namespaced: false,
  schema: DeviceBoundarySchema,
  description: 'Which devices the Placements of some namespaces may place on (set by infrastructure admins).',
  statusSubresource: false,
  strategicMergePatch: false,
  printerColumns: [
    {
      name: 'Namespaces',
      type: 'string',
      description: 'The namespaces bounded.',
      cell: (object) => ((object.spec as DeviceBoundary['spec'] | undefined)?.namespaces ?? []).join(','),
    },
    {
      name: 'Devices',
      type: 'string',
      description: 'The devices they may place on.',
      cell: (object) => selectorText((object.spec as DeviceBoundary['spec'] | undefined)?.deviceSelector),
    },
    ageColumn,
  ],
  validate: (object) => validateDeviceBoundary(object.spec as DeviceBoundary['spec'] | undefined),
};

/** Namespace names (RFC 1123 labels) and the selector's expressions (values as Placements need them). */
function validateDeviceBoundary(spec: DeviceBoundary['spec'] | undefined): FieldCause[] {
  if (!spec) return [];
  const causes: FieldCause[] = [];
  (spec.namespaces ?? []).forEach((namespace, index) => {
    if (namespace.length > 63 || !DNS_LABEL.test(namespace))
      causes.push({
        reason: 'FieldValueInvalid',
        field: `spec.namespaces[${index}]`,
        message: `Invalid value: "${namespace}": a namespace name must be a lowercase RFC 1123 label`,
      });
  });
  causes.push(...validatePlacement({ workloadSelector: {}, deviceSelector: spec.deviceSelector }));
  return causes;
}

/** A selector as kubectl prints one: `site=berlin,team in (a,b),!retired`; `<all>` when empty. */
export function selectorText(selector: DeviceBoundary['spec']['deviceSelector'] | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([key, value]) => `${key}=${value}`);
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    if (operator === 'Exists') parts.push(key);
    else if (operator === 'DoesNotExist') parts.push(`!${key}`);
    else parts.push(`${key} ${operator === 'In' ? 'in' : 'notin'} (${values.join(',')})`);
  }
  return parts.length === 0 ? '<all>' : parts.join(',');
}
