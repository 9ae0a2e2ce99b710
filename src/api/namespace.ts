import Type from 'typebox';
import type { KindDefinition } from './kind.ts';
import { ageColumn, objectSchema } from './meta.ts';

export const NamespaceSchema = objectSchema(
  'v1',
  'Namespace',
  'A scope for names; workload teams own namespaces.',
  {
    spec: Type.Optional(
      Type.Object({
        finalizers: Type.Optional(Type.Array(Type.String(), { 'x-kubernetes-list-type': 'set' })),
      }),
    ),
    status: Type.Optional(
      Type.Object({
        phase: Type.Optional(Type.Enum(['Active', 'Terminating'])),
      }),
    ),
  },
);
export type Namespace = Type.Static<typeof NamespaceSchema>;

export const namespaceKind: KindDefinition = {
  group: '',
  version: 'v1',
  kind: 'Namespace',
  plural: 'namespaces',
  singular: 'namespace',
  shortNames: ['ns'],
  namespaced: false,
  schema: NamespaceSchema,
  description: 'A scope for names; workload teams own namespaces.',
  statusSubresource: true,
  strategicMergePatch: true,
  printerColumns: [
    {
      name: 'Status',
      type: 'string',
      description: 'The namespace phase.',
      cell: (object) => (object.status as Namespace['status'])?.phase,
    },
    ageColumn,
  ],
  normalize(object) {
    const status = (object.status ?? {}) as NonNullable<Namespace['status']>;
    if (!status.phase) object.status = { ...status, phase: 'Active' };
  },
};
