import { randomUUID } from 'node:crypto';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import pino, { type Logger } from 'pino';
import type { KubeObject } from '../api/index.ts';
import { type Clock, systemClock } from './clock.ts';
import type { Informer } from './informer.ts';
import { keyOf } from './keys.ts';
import { MetricsRegistry } from './metrics.ts';
import { allOf, type Predicate } from './predicates.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { WorkQueue } from './workqueue.ts';

/** What a reconcile asks for next; returning nothing means "done, forget the key". */
export interface ReconcileResult {
  /** Reconcile the key again after this many milliseconds (a timed recheck; backoff is reset). */
  readonly requeueAfter?: number;
}

/** Given to every reconcile. */
export interface ReconcileContext {
  /** A child logger carrying `controller`, `key` and `reconcileId`. */
  readonly logger: Logger;
  readonly reconcileId: string;
  /** Aborts when the controller stops. */
  readonly signal: AbortSignal;
}

/**
 * Brings the world in line with the desired state of one key. It rereads
 * state (from informers' caches, or the service for a fresh read) and never
 * trusts what an event said. Level-triggered and idempotent: running it twice
 * writes at most once, and it writes nothing when the state already holds.
 *
 * Outcomes: return nothing → done (backoff forgotten); return
 * `{ requeueAfter }` → recheck later; throw → retry with per-key exponential
 * backoff; throw {@link TerminalError} → logged and counted, not retried.
 * A missing object is success, not an error.
 */
export interface Reconciler {
  readonly name: string;
  // biome-ignore lint/suspicious/noConfusingVoidType: a reconcile that returns nothing must type-check.
  reconcile(key: string, context: ReconcileContext): Promise<ReconcileResult | void>;
}

/** A failure that retrying cannot fix (bad input): logged and counted, the key is not requeued. */
export class TerminalError extends Error {}

export interface ControllerOptions {
  readonly reconciler: Reconciler;
  /** How many keys are reconciled at once (never the same key twice at once). @default 1 */
  readonly workers?: number;
  /** @default a silent logger */
  readonly logger?: Logger;
  /**
   * Where `controller_reconcile_total`, the duration histogram, `workqueue_retries_total` and
   * `workqueue_depth` are kept. @default a private registry
   */
  readonly metrics?: MetricsRegistry;
  /** Retry delays after a throw. @default ExponentialBackoff (5 ms doubling to 1000 s) */
  readonly rateLimiter?: RateLimiter;
  /** @default systemClock */
  readonly clock?: Clock;
  /** The window of {@link Controller.enqueueCoalesced} and of watches with `coalesce`. @default a fixed 100 ms */
  readonly coalesce?: CoalesceOptions;
}

/**
 * How long {@link Controller.enqueueCoalesced} holds keys before queuing them
 * together: `min(maxWindowMs, max(windowMs, costFactor × the last reconcile's
 * duration))`, fixed when a window opens. A cost factor keeps a controller
 * whose reconciles are expensive (a summary over 10,000 objects) to about
 * `1 / costFactor` of the time however often it is asked, at the price of
 * lagging by up to `maxWindowMs`.
 */
export interface CoalesceOptions {
  /** The shortest window. @default 100 */
  readonly windowMs?: number;
  /** The window lasts at least this many times as long as the last reconcile took. @default 0 (a fixed window) */
  readonly costFactor?: number;
  /** The longest window, whatever the cost. @default 2000 */
  readonly maxWindowMs?: number;
}

/** How a watched object maps to keys of this controller (default: its own `namespace/name`). */
export type KeyMapper = (object: KubeObject) => Iterable<string>;

/** What {@link Controller.watch} enqueues for an informer's events. */
export interface WatchOptions {
  /** The keys an object maps to. @default the object's own key ({@link keyOf}) */
  readonly map?: KeyMapper;
  /** An event enqueues only if every predicate passes it. @default [] (every event enqueues) */
  readonly predicates?: readonly Predicate[];
  /**
   * For an update, enqueue the keys of the old object too, so that a change
   * that moves an object away from a key (a label no longer selected) still
   * reconciles that key. Off when only the new object says anything.
   * @default true
   */
  readonly mapOld?: boolean;
  /** Enqueue through the controller's coalescing window ({@link Controller.enqueueCoalesced}). @default false */
  readonly coalesce?: boolean;
}

/** Results counted in `controller_reconcile_total{controller,result}`. */
export type ReconcileOutcome = 'success' | 'requeue_after' | 'error' | 'terminal_error';

/**
 * Runs a {@link Reconciler}: a de-duplicating {@link WorkQueue} fed by the
 * informers it watches, and `workers` loops taking keys from it. Workers start
 * only after every watched informer has synced, so a reconcile never sees a
 * half-filled cache.
 */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconciler: Reconciler;
  readonly #workers: number;
  readonly #logger: Logger;
  readonly #informers = new Set<Informer>();
  readonly #clock: Clock;
  readonly #coalesce: Required<CoalesceOptions>;
  /** How long the last reconcile took on the clock (what a cost-scaled coalescing window scales). */
  #lastReconcileMs = 0;
  /** Where this controller's metrics are kept (the one given, or its own). */
  readonly metrics: MetricsRegistry;
  readonly #total;
  readonly #duration;
  readonly #retries;
  readonly #depth;
  #started = false;

  constructor(options: ControllerOptions) {
    this.#reconciler = options.reconciler;
    this.name = options.reconciler.name;
    this.#workers = options.workers ?? 1;
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ controller: this.name });
    this.#clock = options.clock ?? systemClock;
    this.queue = new WorkQueue({ clock: this.#clock, rateLimiter: options.rateLimiter });
    this.#coalesce = {
      windowMs: options.coalesce?.windowMs ?? 100,
      costFactor: options.coalesce?.costFactor ?? 0,
      maxWindowMs: options.coalesce?.maxWindowMs ?? 2000,
    };
    const metrics = options.metrics ?? new MetricsRegistry();
    this.metrics = metrics;
    this.#total = metrics.counter(
      'controller_reconcile_total',
      'Reconciles per controller and result (success, requeue_after, error, terminal_error).',
    );
    this.#duration = metrics.histogram(
      'controller_reconcile_time_seconds',
      'How long reconciles took, per controller.',
    );
    this.#retries = metrics.counter('workqueue_retries_total', 'Rate-limited requeues per controller.');
    this.#depth = metrics.gauge(
      'workqueue_depth',
      'Keys waiting in the work queue per controller (running).',
    );
  }

  /**
   * Enqueues keys for the adds, updates and deletes of `informer`'s objects
   * that pass the watch's predicates (for an update, the keys of both the old
   * and the new object unless `mapOld` is false), and makes the controller
   * wait for the informer's sync before starting workers. A bare function is
   * the `map` option. Watch one informer several times to map different
   * events to different keys.
   */
  watch(informer: Informer, options: KeyMapper | WatchOptions = {}): this {
    this.#informers.add(informer);
    const {
      map = ownKey,
      predicates = [],
      mapOld = true,
      coalesce = false,
    } = typeof options === 'function' ? { map: options } : options;
    const enqueue = (object: KubeObject) => {
      if (coalesce) for (const key of map(object)) this.enqueueCoalesced(key);
      else for (const key of map(object)) this.queue.add(key);
    };
    const pass = allOf(...predicates);
    informer.addEventHandler({
      onAdd: (object) => {
        if (pass.add(object)) enqueue(object);
      },
      onUpdate: (old, object) => {
        if (!pass.update(old, object)) return;
        if (mapOld && old !== object) enqueue(old);
        enqueue(object);
      },
      onDelete: (object) => {
        if (pass.delete(object)) enqueue(object);
      },
    });
    return this;
  }

  /** Makes the controller wait for `informer` to sync without enqueuing anything from it (a cache it only reads). */
  reads(informer: Informer): this {
    this.#informers.add(informer);
    return this;
  }

  /** Queues `key` now. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Queues `key` after `delayMs`. */
  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  /**
   * Queues `key` when the open coalescing window closes (opening one if
   * none is: see {@link CoalesceOptions}), together with every key asked for
   * meanwhile, each once. For floods of requests that one reconcile answers.
   */
  enqueueCoalesced(key: string): void {
    const { windowMs, costFactor, maxWindowMs } = this.#coalesce;
    this.queue.addCoalesced(
      key,
      Math.min(maxWindowMs, Math.max(windowMs, costFactor * this.#lastReconcileMs)),
    );
  }

  /**
   * Waits for the watched informers to sync, then reconciles until `signal`
   * aborts; resolves once every in-flight reconcile has finished. Start once.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error(`controller ${this.name} started twice`);
    this.#started = true;
    const synced = await Promise.all([...this.#informers].map((informer) => informer.waitForSync(signal)));
    if (signal.aborted || !synced.every(Boolean)) {
      this.queue.shutdown();
      return;
    }
    signal.addEventListener('abort', () => this.queue.shutdown(), { once: true });
    // Only while it runs: a replica that stops leading reports no depth for queues it no longer works on.
    const untrack = this.#depth.track({ controller: this.name }, () => this.queue.length);
    this.#logger.info({ workers: this.#workers }, 'controller started');
    const workers = Array.from({ length: this.#workers }, () => this.#work(signal));
    try {
      await Promise.all(workers);
    } finally {
      untrack();
    }
    this.#logger.info('controller stopped');
  }

  async #work(signal: AbortSignal): Promise<void> {
    for (;;) {
      const turn = yieldIfSliceUsed();
      if (turn) await turn;
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.#reconcileOne(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #reconcileOne(key: string, signal: AbortSignal): Promise<void> {
    const reconcileId = randomUUID();
    const logger = this.#logger.child({ key, reconcileId });
    const started = performance.now();
    const clockStarted = this.#clock.now();
    let outcome: ReconcileOutcome;
    try {
      const result = await this.#reconciler.reconcile(key, { logger, reconcileId, signal });
      this.queue.forget(key);
      if (result?.requeueAfter !== undefined && result.requeueAfter > 0) {
        outcome = 'requeue_after';
        this.queue.addAfter(key, result.requeueAfter);
      } else {
        outcome = 'success';
      }
    } catch (error) {
      if (error instanceof TerminalError) {
        outcome = 'terminal_error';
        this.queue.forget(key);
        logger.error({ err: error }, 'reconcile failed terminally; not retrying');
      } else if (signal.aborted) {
        // Stopping: the next leader (or start) reconciles the key again from scratch.
        outcome = 'error';
      } else {
        outcome = 'error';
        this.queue.addRateLimited(key);
        this.#retries.inc({ controller: this.name });
        const retries = this.queue.numRequeues(key);
        // The first failures are usually conflicts with another writer: quiet until they persist.
        logger[retries > 5 ? 'warn' : 'debug']({ err: error, retries }, 'reconcile failed; retrying');
      }
    }
    this.#lastReconcileMs = this.#clock.now() - clockStarted;
    this.#total.inc({ controller: this.name, result: outcome });
    this.#duration.observe({ controller: this.name }, (performance.now() - started) / 1000);
  }
}

function ownKey(object: KubeObject): string[] {
  return [keyOf(object)];
}

/** How long reconciles run back to back, across every controller, before the event loop gets a turn. */
const SLICE_MS = 10;
let sliceEndsAt = 0;
let nextTurn: Promise<void> | undefined;

/**
 * A promise of the event loop's next turn once the current slice is used up, else undefined.
 * A reconcile that finds nothing to write never leaves the microtask queue, so without this a
 * queue of 10,000 keys (a hub starting over a large fleet) would hold off every request, TLS
 * handshakes included, until it drained. Every waiting worker shares the one next turn and,
 * with it, the next slice. Reconcilers that loop over thousands of objects await it inside
 * their loop too.
 */
export function yieldIfSliceUsed(): Promise<void> | undefined {
  if (performance.now() < sliceEndsAt) return undefined;
  nextTurn ??= setImmediatePromise().then(() => {
    nextTurn = undefined;
    sliceEndsAt = performance.now() + SLICE_MS;
  });
  return nextTurn;
}
