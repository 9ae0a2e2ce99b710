import Type from 'typebox';
import type { KindDefinition } from './kind.ts';
import { ageColumn, EmbeddedObject, objectSchema } from './meta.ts';

export const MailboxObject = Type.Object({
  source: Type.Object({
    namespace: Type.String(),
    workload: Type.String(),
    placement: Type.String(),
  }),
  hash: Type.String({ description: 'Content hash of the customised object.' }),
  object: EmbeddedObject,
});

export const ObjectStatus = Type.Object({
  ref: Type.Object({
    apiVersion: Type.String(),
    kind: Type.String(),
    namespace: Type.Optional(Type.String()),
    name: Type.String(),
  }),
  observedHash: Type.Optional(Type.String()),
  phase: Type.Enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']),
  ready: Type.Optional(Type.Boolean()),
  restarts: Type.Optional(Type.Integer({ minimum: 0 })),
  exitCode: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  lastTransitionTime: Type.Optional(Type.String({ format: 'date-time' })),
});

export const MailboxSchema = objectSchema(
  'outpost.dev/v1alpha1',
  'Mailbox',
  "Everything one device must run, customised for it; written by the hub, read by the device's agent.",
  {
    spec: Type.Optional(
      Type.Object({
        objects: Type.Optional(Type.Array(MailboxObject)),
      }),
    ),
    status: Type.Optional(
      Type.Object({
        observedGeneration: Type.Optional(Type.Integer()),
        objects: Type.Optional(Type.Array(ObjectStatus)),
      }),
    ),
  },
);
export type Mailbox = Type.Static<typeof MailboxSchema>;

export const mailboxKind: KindDefinition = {
  group: 'outpost.dev',
  version: 'v1alpha1',
  kind: 'Mailbox',
  plural: 'mailboxes',
  singular: 'mailbox',
  shortNames: ['mb'],
  categories: ['outpost'],
  namespaced: false,
  schema: MailboxSchema,
  description:
    "Everything one device must run, customised for it; written by the hub, read by the device's agent.",
  statusSubresource: true,
  strategicMergePatch: false,
  printerColumns: [
    {
      name: 'Objects',
      type: 'integer',
      description: 'Objects the device must run.',
      cell: (o) => (o.spec as Mailbox['spec'])?.objects?.length ?? 0,
    },
    {
      name: 'Running',
      type: 'integer',
      description: 'Objects the device reports running.',
      cell: (o) => (o.status as Mailbox['status'])?.objects?.filter((s) => s.phase === 'Running').length ?? 0,
    },
    ageColumn,
  ],
};
