import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { eventKind, type KubeObject } from '../../api/index.ts';
import type { Counter, MetricsRegistry } from '../../controller/index.ts';
import type { Requester } from '../admission/index.ts';
import { ApiError, type ObjectService, parse } from '../kube-api/index.ts';
import {
  boundedText,
  type EventReference,
  type EventType,
  eventBody,
  eventName,
  eventNamespace,
  referenceOf,
} from './event-body.ts';
import { type BucketOptions, KeyedBuckets, TokenBucket } from './rate-limits.ts';

/** What hub code records Events through: one method that never blocks, never throws. */
export interface EventSink {
  /**
   * Records that something happened to `regarding` (an object as read, or
   * a reference). Returns at once: the write is queued and best effort.
   * `action` says what was done or failed (events.k8s.io's field).
   * @default action: the reason
   */
  record(
    regarding: EventReference | KubeObject,
    type: EventType,
    reason: string,
    message: string,
    action?: string,
  ): void;
}

/** A sink that records nothing (components built without a recorder). */
export const NO_EVENTS: EventSink = { record() {} };

/** Gives each component its sink (the {@link EventRecorder}, or none). */
export interface EventSinks {
  /** A sink recording as `component` (the Event's `source.component` and `reportingComponent`). */
  sink(component: string): EventSink;
}

/** Sinks that record nothing. */
export const NO_EVENT_SINKS: EventSinks = { sink: () => NO_EVENTS };

/** Options of {@link EventRecorder}; every default is applied in its constructor. */
export interface EventRecorderOptions {
  /** Where Events are written (as the hub's own writer, {@link EVENT_RECORDER_IDENTITY}). */
  readonly service: ObjectService;
  /** @default a silent logger */
  readonly logger?: Logger;
  /** Wall-clock time, for timestamps and the aggregation window. @default () => new Date() */
  readonly now?: () => Date;
  /** Monotonic milliseconds, for the rate limits. @default performance.now */
  readonly clock?: () => number;
  /** `reportingInstance`: which hub process reported. @default the host name */
  readonly instance?: string;
  /**
   * Within this long of its last occurrence, the same thing (object, type,
   * reason, message, component) updates one Event (count, lastTimestamp,
   * series) instead of creating another. @default 600_000 (10 min, client-go's aggregation window)
   */
  readonly aggregationWindowMs?: number;
  /**
   * Per object and reason: at most `burst` occurrences at once, then one
   * every `refillEveryMs` (client-go's spam filter). @default { burst: 25, refillEveryMs: 300_000 }
   */
  readonly perObject?: BucketOptions;
  /** Writes for the whole recorder. @default { burst: 100, refillEveryMs: 100 } (10 a second) */
  readonly global?: BucketOptions;
  /** Writes waiting at most; beyond, new ones are dropped. @default 1000 */
  readonly maxQueued?: number;
  /** Objects and Events remembered for rate limits and aggregation (LRU). @default 4096 */
  readonly maxTracked?: number;
  /** Counters go here (`outpost_events_total{result}`). @default none */
  readonly metrics?: MetricsRegistry;
}

/** The recorder's own identity on its writes: one of the hub's system writers. */
export const EVENT_RECORDER_IDENTITY: Requester = { user: 'system:outpost:event-recorder', groups: [] };
const FIELD_MANAGER = 'outpost-event-recorder';

/** Why an occurrence was not written. */
export type DropReason = 'rateLimited' | 'globalLimit' | 'queueFull' | 'writeFailed' | 'closed';

/** What the recorder did since it was built. */
export interface EventRecorderStats {
  /** Occurrences recorded (whatever became of them). */
  readonly recorded: number;
  /** Events created. */
  readonly created: number;
  /** Events updated with more occurrences (aggregated). */
  readonly updated: number;
  /** Occurrences folded into a write already queued (no write of their own). */
  readonly merged: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** One write to make: the first occurrence, and how many more arrived before it was written. */
interface Pending {
  readonly key: string;
  readonly component: string;
  readonly regarding: EventReference;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
  readonly action: string;
  occurrences: number;
  readonly first: Date;
  last: Date;
}

/** An Event this recorder wrote, for aggregation. */
interface Written {
  readonly namespace: string;
  readonly name: string;
  readonly regarding: EventReference;
  readonly count: number;
  readonly first: Date;
  readonly last: Date;
  readonly resourceVersion: string;
}

/**
 * The hub's Event recorder, the one door through which controllers,
 * enrollment and telemetry record Kubernetes Events.
 *
 * - Never blocks its callers: `record` queues and returns; one writer
 *   drains the queue in order through ObjectService, as the hub's own writer.
 * - Aggregates like Kubernetes: an occurrence whose object, type, reason,
 *   message and component match an Event written within the aggregation
 *   window updates that Event (`count`, `lastTimestamp`, `series`) instead
 *   of creating one; occurrences arriving while their write waits in the
 *   queue are folded into it.
 * - Never storms: a token bucket per object and reason (burst 25, one more
 *   every 5 minutes, as client-go's spam filter) and one for all its writes
 *   (10 a second, burst 100), and a bounded queue; every occurrence not
 *   written is counted by reason (`stats()`, `outpost_events_total`) and
 *   logged at most once a minute.
 *
 * Aggregation and limits are per hub process: two replicas recording the
 * same thing write two Events.
 */
export class EventRecorder implements EventSinks {
  readonly #service: ObjectService;
  readonly #logger: Logger;
  readonly #now: () => Date;
  readonly #clock: () => number;
  readonly #instance: string;
  readonly #windowMs: number;
  readonly #maxQueued: number;
  readonly #maxTracked: number;
  readonly #perObject: KeyedBuckets;
  readonly #global: TokenBucket;
  readonly #pending = new Map<string, Pending>();
  /** Events written, by aggregation key, least recently used first. */
  readonly #written = new Map<string, Written>();
  readonly #counter: Counter | undefined;
  readonly #stats = {
    recorded: 0,
    created: 0,
    updated: 0,
    merged: 0,
    dropped: { rateLimited: 0, globalLimit: 0, queueFull: 0, writeFailed: 0, closed: 0 },
  };
  #draining: Promise<void> | undefined;
  #closed = false;
  #lastDropLog = Number.NEGATIVE_INFINITY;

  constructor(options: EventRecorderOptions) {
    this.#service = options.service;
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#now = options.now ?? (() => new Date());
    this.#clock = options.clock ?? (() => performance.now());
    this.#instance = options.instance ?? hostname();
    this.#windowMs = options.aggregationWindowMs ?? 600_000;
    this.#maxQueued = options.maxQueued ?? 1000;
    this.#maxTracked = options.maxTracked ?? 4096;
    this.#perObject = new KeyedBuckets(
      options.perObject ?? { burst: 25, refillEveryMs: 300_000 },
      this.#maxTracked,
    );
    const global = options.global ?? { burst: 100, refillEveryMs: 100 };
    this.#global = new TokenBucket(global.burst, global.refillEveryMs, this.#clock());
    this.#counter = options.metrics?.counter(
      'outpost_events_total',
      'Event occurrences recorded, by what became of them (created, updated, merged, or dropped_REASON).',
    );
  }

  /** A sink recording as `component` (the Event's `source.component` and `reportingComponent`). */
  sink(component: string): EventSink {
    return {
      record: (regarding, type, reason, message, action) =>
        this.#record(component, regarding, type, reason, message, action ?? reason),
    };
  }

  /** What the recorder did so far. */
  stats(): EventRecorderStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Resolves once every queued write was made (or dropped). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Takes no more occurrences; the queued ones are dropped, the write under way finishes. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#drop(
      'closed',
      [...this.#pending.values()].reduce((n, p) => n + p.occurrences, 0),
    );
    this.#pending.clear();
    await this.flush();
  }

  #record(
    component: string,
    object: EventReference | KubeObject,
    type: EventType,
    reason: string,
    text: string,
    action: string,
  ): void {
    this.#stats.recorded++;
    if (this.#closed) {
      this.#drop('closed');
      return;
    }
    const regarding = referenceOf(object);
    const message = boundedText(text);
    const clock = this.#clock();
    const source = [
      component,
      regarding.kind,
      regarding.namespace ?? '',
      regarding.name,
      regarding.uid ?? '',
    ];
    const spamKey = [...source, type, reason].join('\u0000');
    if (!this.#perObject.take(spamKey, clock)) {
      this.#drop('rateLimited');
      return;
    }
    const key = `${spamKey}\u0000${action}\u0000${message}`;
    const now = this.#now();
    const queued = this.#pending.get(key);
    if (queued) {
      queued.occurrences++;
      queued.last = now;
      this.#stats.merged++;
      this.#counter?.inc({ result: 'merged' });
      return;
    }
    if (this.#pending.size >= this.#maxQueued) {
      this.#drop('queueFull');
      return;
    }
    if (!this.#global.take(clock)) {
      this.#drop('globalLimit');
      return;
    }
    this.#pending.set(key, {
      key,
      component,
      regarding,
      type,
      reason,
      message,
      action,
      occurrences: 1,
      first: now,
      last: now,
    });
    // Drained from the next microtask: occurrences recorded in the same turn are folded in first.
    this.#draining ??= Promise.resolve()
      .then(() => this.#drain())
      .finally(() => {
        this.#draining = undefined;
      });
  }

  async #drain(): Promise<void> {
    // One writer, oldest first: Events of one object appear in the order things happened.
    for (;;) {
      const next = this.#pending.values().next();
      if (next.done) return;
      const pending = next.value;
      this.#pending.delete(pending.key);
      try {
        await this.#write(pending);
      } catch (error) {
        this.#drop('writeFailed', pending.occurrences, error);
      }
    }
  }

  async #write(pending: Pending): Promise<void> {
    const before = this.#written.get(pending.key);
    if (before && pending.first.getTime() - before.last.getTime() < this.#windowMs) {
      const updated = await this.#update(before, pending);
      if (updated) {
        this.#remember(pending, updated, 'updated', before.first);
        return;
      }
    }
    await this.#create(pending);
  }

  /** The aggregated Event with more occurrences; undefined when it is gone (expired, deleted). */
  async #update(before: Written, pending: Pending): Promise<KubeObject | undefined> {
    let count = before.count;
    let resourceVersion = before.resourceVersion;
    for (let attempt = 0; attempt < 2; attempt++) {
      const body = eventBody({
        ...pending,
        instance: this.#instance,
        name: before.name,
        regarding: before.regarding,
        count: count + pending.occurrences,
        first: before.first,
        resourceVersion,
      });
      try {
        return parse(
          await this.#service.update(eventKind, before.namespace, before.name, body, this.#options()),
        );
      } catch (error) {
        if (error instanceof ApiError && error.code === 404) return undefined;
        if (!(error instanceof ApiError && error.code === 409) || attempt > 0) throw error;
        // Someone else wrote it (another replica, a person): count on from what is stored.
        const live = parse(await this.#service.get(eventKind, before.namespace, before.name));
        count = Number(live.count ?? 1);
        resourceVersion = live.metadata.resourceVersion!;
      }
    }
    return undefined;
  }

  async #create(pending: Pending): Promise<void> {
    const regarding = pending.regarding.uid ? pending.regarding : await this.#withUid(pending.regarding);
    for (let attempt = 0; ; attempt++) {
      const body = eventBody({
        ...pending,
        instance: this.#instance,
        regarding,
        name: eventName(regarding, pending.first),
        count: pending.occurrences,
      });
      try {
        const created = parse(
          await this.#service.create(eventKind, body.metadata.namespace, body, this.#options()),
        );
        this.#remember({ ...pending, regarding }, created, 'created', pending.first);
        return;
      } catch (error) {
        if (!(error instanceof ApiError && error.reason === 'AlreadyExists') || attempt > 0) throw error;
      }
    }
  }

  /** The reference with the live object's uid (`kubectl describe` selects Events by it), when it exists. */
  async #withUid(regarding: EventReference): Promise<EventReference> {
    const def = this.#service.registry.byKind(regarding.apiVersion, regarding.kind);
    if (!def) return regarding;
    try {
      const stored = await this.#service.get(def, regarding.namespace, regarding.name);
      const uid = parse(stored).metadata.uid;
      return uid ? { ...regarding, uid } : regarding;
    } catch {
      return regarding;
    }
  }

  #remember(pending: Pending, event: KubeObject, result: 'created' | 'updated', first: Date): void {
    this.#stats[result]++;
    this.#counter?.inc({ result }, pending.occurrences);
    this.#written.delete(pending.key);
    if (this.#written.size >= this.#maxTracked) this.#written.delete(this.#written.keys().next().value!);
    this.#written.set(pending.key, {
      namespace: eventNamespace(pending.regarding),
      name: event.metadata.name!,
      regarding: pending.regarding,
      count: Number(event.count ?? pending.occurrences),
      first,
      last: pending.last,
      resourceVersion: event.metadata.resourceVersion!,
    });
  }

  #options() {
    return { fieldManager: FIELD_MANAGER, requester: EVENT_RECORDER_IDENTITY, borrowBody: true };
  }

  #drop(reason: DropReason, occurrences = 1, error?: unknown): void {
    this.#stats.dropped[reason] += occurrences;
    this.#counter?.inc({ result: `dropped_${reason}` }, occurrences);
    const clock = this.#clock();
    // A storm drops thousands: one line a minute says how many, never one per Event.
    if (clock - this.#lastDropLog < 60_000) return;
    this.#lastDropLog = clock;
    this.#logger.warn({ dropped: this.#stats.dropped, reason, err: error }, 'events dropped');
  }
}
