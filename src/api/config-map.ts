import Type from 'typebox';
import type { FieldCause, KindDefinition } from './kind.ts';
import { ageColumn, objectSchema, StringMap } from './meta.ts';
import { configKeyCauses } from './names.ts';

export const ConfigMapSchema = objectSchema('v1', 'ConfigMap', 'Configuration data for workloads.', {
  data: Type.Optional(StringMap),
  binaryData: Type.Optional(StringMap),
  immutable: Type.Optional(Type.Boolean()),
});
export type ConfigMap = Type.Static<typeof ConfigMapSchema>;

export const configMapKind: KindDefinition = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  singular: 'configmap',
  shortNames: ['cm'],
  namespaced: true,
  schema: ConfigMapSchema,
  description: 'Configuration data for workloads.',
  statusSubresource: false,
  strategicMergePatch: true,
  printerColumns: [
    {
      name: 'Data',
      type: 'integer',
      description: 'Number of entries.',
      cell: (object) =>
        Object.keys((object.data as object | undefined) ?? {}).length +
        Object.keys((object.binaryData as object | undefined) ?? {}).length,
    },
    ageColumn,
  ],
  validate: (object) => configMapCauses(object.data, object.binaryData, ''),
};

/**
 * Keys that are not config keys, and keys in both `data` and `binaryData` (as the apiserver
 * refuses them); `prefix` puts the fields under an embedding object's path.
 */
export function configMapCauses(data: unknown, binaryData: unknown, prefix: string): FieldCause[] {
  const causes = [
    ...configKeyCauses(data, `${prefix}data`),
    ...configKeyCauses(binaryData, `${prefix}binaryData`),
  ];
  if (data && binaryData && typeof data === 'object' && typeof binaryData === 'object')
    for (const key of Object.keys(binaryData))
      if (Object.hasOwn(data, key))
        causes.push({
          reason: 'FieldValueInvalid',
          field: `${prefix}binaryData[${key}]`,
          message: `Invalid value: "${key}": duplicate of key present in data`,
        });
  return causes;
}
