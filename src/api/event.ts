import Type from 'typebox';
import type { KindDefinition, KubeObject } from './kind.ts';
import { objectSchema, Time } from './meta.ts';

const ObjectReference = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  fieldPath: Type.Optional(Type.String()),
});

export const EventSchema = objectSchema('v1', 'Event', 'Something that happened to an object.', {
  involvedObject: ObjectReference,
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  count: Type.Optional(Type.Integer()),
  firstTimestamp: Type.Optional(Time),
  lastTimestamp: Type.Optional(Time),
  eventTime: Type.Optional(Type.String()),
  source: Type.Optional(
    Type.Object({ component: Type.Optional(Type.String()), host: Type.Optional(Type.String()) }),
  ),
  reportingComponent: Type.Optional(Type.String()),
  reportingInstance: Type.Optional(Type.String()),
});
export type Event = Type.Static<typeof EventSchema>;

const involved = (field: keyof Event['involvedObject']) => (object: KubeObject) =>
  (object.involvedObject as Event['involvedObject'] | undefined)?.[field];

export const eventKind: KindDefinition = {
  group: '',
  version: 'v1',
  kind: 'Event',
  plural: 'events',
  singular: 'event',
  shortNames: ['ev'],
  namespaced: true,
  schema: EventSchema,
  description: 'Something that happened to an object.',
  statusSubresource: false,
  strategicMergePatch: true,
  printerColumns: [
    {
      name: 'Last Seen',
      type: 'date',
      description: 'When it last happened.',
      cell: (o) => o.lastTimestamp as string,
    },
    { name: 'Type', type: 'string', description: 'Normal or Warning.', cell: (o) => o.type as string },
    { name: 'Reason', type: 'string', description: 'Short reason.', cell: (o) => o.reason as string },
    {
      name: 'Object',
      type: 'string',
      description: 'The object it happened to.',
      cell: (o) => `${String(involved('kind')(o) ?? '').toLowerCase()}/${involved('name')(o) ?? ''}`,
    },
    { name: 'Message', type: 'string', description: 'What happened.', cell: (o) => o.message as string },
  ],
  fieldSelectors: {
    'involvedObject.kind': involved('kind'),
    'involvedObject.name': involved('name'),
    'involvedObject.namespace': involved('namespace'),
    'involvedObject.uid': involved('uid'),
    'involvedObject.apiVersion': involved('apiVersion'),
    'involvedObject.resourceVersion': involved('resourceVersion'),
    'involvedObject.fieldPath': involved('fieldPath'),
    reason: (o) => o.reason as string | undefined,
    type: (o) => o.type as string | undefined,
    source: (o) => (o.source as Event['source'])?.component,
  },
};
