import Type from 'typebox';
import type { KindDefinition, KubeObject } from './kind.ts';
import { ageColumn, objectSchema } from './meta.ts';

/**
 * A timestamp with microseconds (`metav1.MicroTime`): RFC 3339, as
 * `2006-01-02T15:04:05.000000Z07:00`. Leader election writes these.
 */
const MicroTime = Type.String({ format: 'date-time' });

/** The fields of `coordination.k8s.io/v1` LeaseSpec, exactly as Kubernetes names them. */
export const LeaseSpecSchema = Type.Object(
  {
    holderIdentity: Type.Optional(
      Type.String({ description: 'The identity of the holder of the lease; empty when nobody holds it.' }),
    ),
    leaseDurationSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2147483647,
        description:
          'How long candidates wait before forcibly acquiring the lease, measured from the last observed change of renewTime.',
      }),
    ),
    acquireTime: Type.Optional({
      ...MicroTime,
      description: 'When the current holder acquired the lease.',
    }),
    renewTime: Type.Optional({
      ...MicroTime,
      description: 'When the current holder last renewed the lease.',
    }),
    leaseTransitions: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 2147483647,
        description: 'How many times the lease changed holders.',
      }),
    ),
  },
  { description: 'The specification of a Lease.' },
);

export const LeaseSchema = objectSchema(
  'coordination.k8s.io/v1',
  'Lease',
  'A lease on a shared resource: leader election among hub replicas.',
  { spec: Type.Optional(LeaseSpecSchema) },
);
export type Lease = Type.Static<typeof LeaseSchema>;
export type LeaseSpec = Type.Static<typeof LeaseSpecSchema>;

const spec = (object: KubeObject) => object.spec as LeaseSpec | undefined;

/** `coordination.k8s.io/v1` Lease: what hub replicas elect their controller leader with. */
export const leaseKind: KindDefinition = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  plural: 'leases',
  singular: 'lease',
  namespaced: true,
  schema: LeaseSchema,
  description: 'A lease on a shared resource: leader election among hub replicas.',
  statusSubresource: false,
  strategicMergePatch: true,
  printerColumns: [
    {
      name: 'Holder',
      type: 'string',
      description: 'The holder of the lease.',
      cell: (object) => spec(object)?.holderIdentity || undefined,
    },
    ageColumn,
  ],
};
