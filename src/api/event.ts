import Type from 'typebox';
import type { KindDefinition, KubeObject, PrinterColumn } from './kind.ts';
import { objectSchema, Time } from './meta.ts';

export const ObjectReference = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
    fieldPath: Type.Optional(Type.String()),
  },
  { description: 'The object an Event is about.' },
);

export const EventSource = Type.Object(
  { component: Type.Optional(Type.String()), host: Type.Optional(Type.String()) },
  { description: 'The component that reported the Event.' },
);

/** A timestamp with microseconds (`2026-01-02T15:04:05.123456Z`), Kubernetes' MicroTime. */
export const MicroTime = Type.String({ format: 'date-time' });

export const EventSeries = Type.Object(
  {
    count: Type.Optional(Type.Integer({ description: 'Occurrences in the series so far.' })),
    lastObservedTime: Type.Optional({ ...MicroTime, description: 'When the last occurrence was seen.' }),
  },
  { description: 'A series of occurrences of the same Event.' },
);

export const EventSchema = objectSchema('v1', 'Event', 'Something that happened to an object.', {
  involvedObject: ObjectReference,
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  type: Type.Optional(Type.String({ description: 'Normal or Warning.' })),
  count: Type.Optional(Type.Integer({ description: 'How many times it happened (aggregated).' })),
  firstTimestamp: Type.Optional(Time),
  lastTimestamp: Type.Optional(Time),
  eventTime: Type.Optional({ ...MicroTime, description: 'When it first happened (events.k8s.io style).' }),
  series: Type.Optional(EventSeries),
  action: Type.Optional(Type.String({ description: 'What was done, or failed, about the object.' })),
  related: Type.Optional(ObjectReference),
  source: Type.Optional(EventSource),
  reportingComponent: Type.Optional(Type.String()),
  reportingInstance: Type.Optional(Type.String()),
});
export type Event = Type.Static<typeof EventSchema>;

/** When an Event last happened: its series, lastTimestamp, eventTime, firstTimestamp or creation. */
export function lastSeen(event: KubeObject): string | undefined {
  const fields = event as KubeObject &
    Partial<Pick<Event, 'series' | 'lastTimestamp' | 'eventTime' | 'firstTimestamp'>>;
  return (
    fields.series?.lastObservedTime ??
    fields.lastTimestamp ??
    fields.eventTime ??
    fields.firstTimestamp ??
    event.metadata.creationTimestamp
  );
}

/**
 * The columns of `kubectl get events`, for a shape in which the object an
 * Event is about and its message have these field names (core `v1`:
 * involvedObject and message; `events.k8s.io/v1`: regarding and note).
 */
export function eventColumns(fields: {
  readonly regarding: string;
  readonly note: string;
  /** When the Event last happened, in this shape. */
  readonly lastSeen: (event: KubeObject) => string | undefined;
}): PrinterColumn[] {
  const regarding = (o: KubeObject) => (o[fields.regarding] ?? {}) as Event['involvedObject'];
  return [
    {
      name: 'Last Seen',
      type: 'date',
      description: 'When it last happened.',
      cell: fields.lastSeen,
    },
    { name: 'Type', type: 'string', description: 'Normal or Warning.', cell: (o) => o.type as string },
    { name: 'Reason', type: 'string', description: 'Short reason.', cell: (o) => o.reason as string },
    {
      name: 'Object',
      type: 'string',
      description: 'The object it happened to.',
      cell: (o) => `${String(regarding(o).kind ?? '').toLowerCase()}/${regarding(o).name ?? ''}`,
    },
    {
      name: 'Message',
      type: 'string',
      description: 'What happened.',
      cell: (o) => o[fields.note] as string | undefined,
    },
  ];
}

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
  printerColumns: eventColumns({ regarding: 'involvedObject', note: 'message', lastSeen }),
  // The apiserver's selectable fields of core Events (kubectl describe asks by involvedObject.*).
  fieldSelectors: {
    'involvedObject.kind': involved('kind'),
    'involvedObject.name': involved('name'),
    'involvedObject.namespace': involved('namespace'),
    'involvedObject.uid': involved('uid'),
    'involvedObject.apiVersion': involved('apiVersion'),
    'involvedObject.resourceVersion': involved('resourceVersion'),
    'involvedObject.fieldPath': involved('fieldPath'),
    reason: (o) => o.reason as string | undefined,
    reportingComponent: (o) => o.reportingComponent as string | undefined,
    type: (o) => o.type as string | undefined,
    source: (o) => (o.source as Event['source'])?.component,
  },
};
