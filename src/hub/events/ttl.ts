import { eventKind, lastSeen } from '../../api/index.ts';
import { type Controller, type Manager, splitKey, updateWhen } from '../../controller/index.ts';
import { ApiError } from '../kube-api/index.ts';

/** Options of {@link addEventTtl}. */
export interface EventTtlOptions {
  /** How long an Event is kept after it last happened. @default 3_600_000 (1 h, kube-apiserver's --event-ttl) */
  readonly ttlMs?: number;
  /** Wall-clock time (Events carry wall-clock timestamps). @default () => new Date() */
  readonly now?: () => Date;
  /** @default 2 */
  readonly workers?: number;
}

/** How long an Event is kept by default, as kube-apiserver's `--event-ttl`. */
export const DEFAULT_EVENT_TTL_MS = 3_600_000;

/**
 * Adds the `event-ttl` controller, keyed by Event (`namespace/name`): an
 * Event is deleted once `ttlMs` passed since it last happened (its series'
 * last observation, else lastTimestamp, eventTime, firstTimestamp or
 * creation), as the apiserver lets an Event's etcd lease expire; until then
 * the key is requeued for that moment, so nothing polls. Every Event counts,
 * whoever wrote it. The deletion carries the resourceVersion read: an Event
 * aggregated meanwhile (a new occurrence) is kept and judged again by its
 * new time.
 */
export function addEventTtl(manager: Manager, options: EventTtlOptions = {}): Controller {
  const ttlMs = options.ttlMs ?? DEFAULT_EVENT_TTL_MS;
  const now = options.now ?? (() => new Date());
  const events = manager.informer(eventKind);
  const controller = manager.controller({
    workers: options.workers ?? 2,
    reconciler: {
      name: 'event-ttl',
      async reconcile(key) {
        const { namespace, name } = splitKey(key);
        const event = events.get(namespace, name);
        if (!event || event.metadata.deletionTimestamp) return;
        const last = Date.parse(lastSeen(event) ?? '');
        const expiresAt = (Number.isNaN(last) ? 0 : last) + ttlMs;
        const left = expiresAt - now().getTime();
        // Timestamps are to the second: a little past the moment, so the next look finds it expired.
        if (left > 0) return { requeueAfter: left + 1000 };
        try {
          await manager.client.delete(eventKind, namespace, name, {
            preconditions: { resourceVersion: event.metadata.resourceVersion! },
          });
        } catch (error) {
          // Gone already, or updated since it was read (its update event brings it back here).
          if (error instanceof ApiError && (error.code === 404 || error.code === 409)) return;
          throw error;
        }
        return;
      },
    },
  });
  controller.watch(events, {
    predicates: [updateWhen((old, event) => lastSeen(old) !== lastSeen(event)), { delete: () => false }],
  });
  return controller;
}
