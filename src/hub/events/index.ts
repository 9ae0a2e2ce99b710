/**
 * Kubernetes Events recorded by the hub: what a person wants to know about
 * devices (enrolled, approved, unreachable, back, decommissioned, certificate
 * renewed), Mailboxes (delivered), workloads failing on devices, placement
 * conflicts and connector errors, shown by `kubectl describe`, `kubectl get
 * events` and `kubectl events`.
 *
 * - `recorder.ts`: {@link EventRecorder}, the one door every component
 *   records through ({@link EventSink} per component): queued, best effort,
 *   aggregated (count, series) and rate-limited per object and reason and
 *   globally, drops counted.
 * - `event-body.ts`: how an Event looks (references, names, timestamps).
 * - `rate-limits.ts`: the token buckets.
 * - `ttl.ts`: the controller deleting Events older than the TTL (`--event-ttl`).
 */
export {
  CLUSTER_EVENTS_NAMESPACE,
  type EventReference,
  type EventType,
  MAX_MESSAGE_LENGTH,
  referenceOf,
} from './event-body.ts';
export { type BucketOptions, KeyedBuckets, TokenBucket } from './rate-limits.ts';
export {
  type DropReason,
  EVENT_RECORDER_IDENTITY,
  EventRecorder,
  type EventRecorderOptions,
  type EventRecorderStats,
  type EventSink,
  type EventSinks,
  NO_EVENT_SINKS,
  NO_EVENTS,
} from './recorder.ts';
export { addEventTtl, DEFAULT_EVENT_TTL_MS, type EventTtlOptions } from './ttl.ts';
