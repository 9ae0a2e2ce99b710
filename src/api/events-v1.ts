import Type from 'typebox';
import {
  type Event,
  EventSeries,
  EventSource,
  eventColumns,
  eventKind,
  MicroTime,
  ObjectReference,
} from './event.ts';
import type { KindDefinition, KubeObject } from './kind.ts';
import { objectSchema, Time } from './meta.ts';

/**
 * `events.k8s.io/v1` Event field → core `v1` Event field, the apiserver's
 * conversion between the two shapes of one stored Event: the newer API
 * renames the object (`regarding`), the text (`note`) and the reporter
 * (`reportingController`), and keeps the older counters as `deprecated*`.
 */
export const EVENTS_V1_FIELDS: Readonly<Record<string, string>> = {
  regarding: 'involvedObject',
  note: 'message',
  reportingController: 'reportingComponent',
  deprecatedSource: 'source',
  deprecatedFirstTimestamp: 'firstTimestamp',
  deprecatedLastTimestamp: 'lastTimestamp',
  deprecatedCount: 'count',
};

export const EventsV1Schema = objectSchema(
  'events.k8s.io/v1',
  'Event',
  'Something that happened to an object (the events.k8s.io shape of core v1 Events).',
  {
    eventTime: Type.Optional({ ...MicroTime, description: 'When it first happened.' }),
    series: Type.Optional(EventSeries),
    reportingController: Type.Optional(Type.String({ description: 'The controller that reported it.' })),
    reportingInstance: Type.Optional(Type.String({ description: 'Which instance of the controller.' })),
    action: Type.Optional(Type.String({ description: 'What was done, or failed, about the object.' })),
    reason: Type.Optional(Type.String()),
    regarding: Type.Optional(ObjectReference),
    related: Type.Optional(ObjectReference),
    note: Type.Optional(Type.String({ description: 'What happened, for people.' })),
    type: Type.Optional(Type.String({ description: 'Normal or Warning.' })),
    deprecatedSource: Type.Optional(EventSource),
    deprecatedFirstTimestamp: Type.Optional(Time),
    deprecatedLastTimestamp: Type.Optional(Time),
    deprecatedCount: Type.Optional(Type.Integer()),
  },
);
export type EventsV1Event = Type.Static<typeof EventsV1Schema>;

const regarding = (field: keyof Event['involvedObject']) => (object: KubeObject) =>
  (object.regarding as Event['involvedObject'] | undefined)?.[field];

/** `events.k8s.io/v1` Event, served over the stored core `v1` Events. */
export const eventsV1Kind: KindDefinition = {
  group: 'events.k8s.io',
  version: 'v1',
  kind: 'Event',
  plural: 'events',
  singular: 'event',
  // No short name: `ev` is the core kind's, as in Kubernetes (kubectl would warn of the ambiguity).
  namespaced: true,
  schema: EventsV1Schema,
  description: 'Something that happened to an object (the events.k8s.io shape of core v1 Events).',
  statusSubresource: false,
  // Patches are applied to the stored core Event, for which strategic merge patch applies.
  strategicMergePatch: true,
  printerColumns: eventColumns({
    regarding: 'regarding',
    note: 'note',
    lastSeen: (o) =>
      (o.series as EventsV1Event['series'])?.lastObservedTime ??
      (o.deprecatedLastTimestamp as string | undefined) ??
      (o.eventTime as string | undefined) ??
      o.metadata.creationTimestamp,
  }),
  // As the apiserver's field label conversion for events.k8s.io: each maps to the stored field.
  fieldSelectors: {
    'regarding.kind': regarding('kind'),
    'regarding.name': regarding('name'),
    'regarding.namespace': regarding('namespace'),
    'regarding.uid': regarding('uid'),
    'regarding.apiVersion': regarding('apiVersion'),
    'regarding.resourceVersion': regarding('resourceVersion'),
    'regarding.fieldPath': regarding('fieldPath'),
    reason: (o) => o.reason as string | undefined,
    reportingController: (o) => o.reportingController as string | undefined,
    type: (o) => o.type as string | undefined,
  },
  storedAs: { kind: eventKind, fields: EVENTS_V1_FIELDS },
};
