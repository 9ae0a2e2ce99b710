import Type from 'typebox';
import type { KindDefinition } from './kind.ts';
import { ageColumn, objectSchema, StringMap } from './meta.ts';

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
};
