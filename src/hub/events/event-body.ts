/**
 * How the recorder's Events look: the object they are about, their names and
 * namespaces, and the body written — core `v1` fields (count, first and last
 * timestamps, source) and the events.k8s.io ones (eventTime, series,
 * reportingComponent, action), so that `kubectl describe`, `kubectl get
 * events` and `kubectl events` all read them, as Kubernetes' recorders write
 * them. Pure; no I/O.
 */
import type { Event, KubeObject } from '../../api/index.ts';

/** Normal (something expected happened) or Warning (someone may have to act), as in Kubernetes. */
export type EventType = 'Normal' | 'Warning';

/** The object an Event is about: enough for `kubectl describe` to find it (kind, name, namespace, uid). */
export interface EventReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** Absent for cluster-scoped objects (Devices, Mailboxes): their Events go to `default`. */
  readonly namespace?: string;
  /** Filled by the recorder from the live object when absent. */
  readonly uid?: string;
}

/** Kubernetes' limit of an Event's note (1 kB); longer messages are cut. */
export const MAX_MESSAGE_LENGTH = 1024;

/** The namespace cluster-scoped objects' Events go to, as Kubernetes puts Node events. */
export const CLUSTER_EVENTS_NAMESPACE = 'default';

/** The reference of an object (its own apiVersion, kind, name, namespace and uid). */
export function referenceOf(object: EventReference | KubeObject): EventReference {
  if (!('metadata' in object)) return object;
  const { name, namespace, uid } = object.metadata;
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: name ?? '',
    ...(namespace ? { namespace } : {}),
    ...(uid ? { uid } : {}),
  };
}

/** Where an Event about `regarding` is kept. */
export function eventNamespace(regarding: EventReference): string {
  return regarding.namespace || CLUSTER_EVENTS_NAMESPACE;
}

/** A message cut to {@link MAX_MESSAGE_LENGTH} characters. */
export function boundedText(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH ? message : `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...`;
}

let sequence = 0;

/**
 * A new Event's name, as client-go names them: the object's name, a dot and
 * the time in nanoseconds in hex (here milliseconds and a per-process
 * counter), so that names sort by time and never collide within a process.
 */
export function eventName(regarding: EventReference, at: Date): string {
  sequence = (sequence + 1) % 1_000_000;
  const nanos = BigInt(at.getTime()) * 1_000_000n + BigInt(sequence);
  // Object names may hold characters an Event name may not (RBAC names hold colons).
  const base =
    regarding.name
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-')
      .slice(0, 200) || 'object';
  return `${base}.${nanos.toString(16)}`;
}

/** RFC 3339 to the second (`Time`). */
export function seconds(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 3339 with six fractional digits (`MicroTime`, which Kubernetes' clients parse exactly so). */
export function micros(at: Date): string {
  return at.toISOString().replace(/Z$/, '000Z');
}

/** One Event, as the recorder writes it. */
export interface EventContent {
  readonly name: string;
  readonly regarding: EventReference;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
  readonly action: string;
  /** The reporting component: `source.component` and `reportingComponent`. */
  readonly component: string;
  /** Which hub process: `reportingInstance`. */
  readonly instance: string;
  /** Occurrences so far. */
  readonly count: number;
  readonly first: Date;
  readonly last: Date;
  /** The stored Event's resourceVersion, for an update. */
  readonly resourceVersion?: string;
}

/** The body of an Event with this content (a series once it happened more than once). */
export function eventBody(content: EventContent): KubeObject & Event {
  const { regarding } = content;
  const involvedObject: Event['involvedObject'] = {
    apiVersion: regarding.apiVersion,
    kind: regarding.kind,
    name: regarding.name,
    ...(regarding.namespace ? { namespace: regarding.namespace } : {}),
    ...(regarding.uid ? { uid: regarding.uid } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: content.name,
      namespace: eventNamespace(regarding),
      ...(content.resourceVersion ? { resourceVersion: content.resourceVersion } : {}),
    },
    involvedObject,
    reason: content.reason,
    message: content.message,
    type: content.type,
    count: content.count,
    firstTimestamp: seconds(content.first),
    lastTimestamp: seconds(content.last),
    eventTime: micros(content.first),
    ...(content.count > 1
      ? { series: { count: content.count, lastObservedTime: micros(content.last) } }
      : {}),
    action: content.action,
    source: { component: content.component },
    reportingComponent: content.component,
    reportingInstance: content.instance,
  };
}
