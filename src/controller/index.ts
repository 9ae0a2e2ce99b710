/**
 * The controller runtime: what every hub controller is built from. It knows
 * no Outpost kind and no store; it works on any `KindDefinition` a
 * {@link Client} serves (the hub's `ObjectService` is one). Its shape is
 * controller-runtime's:
 *
 * - {@link Client}: get, find, list, create, update, patch, delete and a watch
 *   from a revision (410 when that revision is compacted; `done` rejects when
 *   the server drops the watcher), objects as JSON text with their revision,
 *   failures carrying the API's HTTP status as `code` ({@link statusCodeOf}).
 * - {@link Informer}: lists one kind (optionally one namespace), then watches
 *   from the list's revision, keeping a local cache of parsed,
 *   frozen objects (`get(namespace, name)`, `getByKey('ns/name')`, `list()`,
 *   indexes via `addIndex(name, fn)` / `byIndex(name, value)`), calling
 *   handlers (`onAdd`, `onUpdate(old, new)`, `onDelete(last)`). On a 410 or
 *   when the watch ends it lists again and synthesises the events it missed
 *   (DELETED for keys that vanished). `hasSynced` / `waitForSync(signal)`.
 * - {@link WorkQueue}: de-duplicated keys, never one key in two workers,
 *   `addAfter`, `addRateLimited` (per-key exponential backoff, 5 ms doubling
 *   to 1000 s by default), `forget`, `shutdown`.
 * - {@link Controller}: runs a {@link Reconciler}
 *   (`{ name, reconcile(key, ctx) }` → nothing | `{ requeueAfter }` | throw)
 *   with N workers, once its informers have synced.
 *   `watch(informer, { map, predicates, mapOld, coalesce })` enqueues keys
 *   from an informer's events: `map` gives an object's keys (default: its own
 *   `namespace/name`), `predicates` filter the events first
 *   ({@link generationChanged}, {@link labelsChanged}, `allOf`, `not`, ...),
 *   `mapOld` (default on) also enqueues an updated object's old keys, and
 *   `coalesce` enqueues through the controller's coalescing window (one
 *   reconcile for a burst of events, the window optionally scaled by the last
 *   reconcile's cost: {@link CoalesceOptions}); `reads(informer)` only waits
 *   for its sync.
 * - {@link Clock}: monotonic time, wall time, timers and sleeps, with
 *   {@link ManualClock} for tests (the leader election runs on it too).
 *   Metrics: `controller_reconcile_total{controller,result}`,
 *   `controller_reconcile_time_seconds{controller}`, `workqueue_retries_total{controller}`,
 *   `workqueue_depth{controller}` (while the controller runs).
 * - {@link Manager}: shared informers (`informer(kind, namespace?)`),
 *   controllers (`controller({ reconciler, workers })`), one
 *   {@link MetricsRegistry}, all started by `start(signal)`, which resolves
 *   once the signal aborted and everything stopped.
 *
 * Keys are strings; by convention `namespace/name` or `name` ({@link keyFor},
 * {@link keyOf}, {@link splitKey}). A reconcile reads state again (cache, or
 * the client for a fresh read before a destructive decision), writes through
 * the {@link Client} with `{ fieldManager }` and a resourceVersion precondition
 * where it read-modify-writes, and writes nothing when the state already holds.
 *
 * @example
 * ```ts
 * const manager = new Manager({ client: service, logger });
 * const things = manager.informer(thingKind);
 * manager.controller({ reconciler: { name: 'thing', async reconcile(key) { ... } } }).watch(things);
 * await manager.start(signal); // until signal aborts
 * ```
 */
export {
  type Client,
  type ClientUser,
  type ClientWatchOptions,
  type ClientWriteOptions,
  type DeleteOptions,
  type ListOptions,
  type ObjectEvent,
  type ObjectList,
  type ObjectText,
  type ObjectWatch,
  type PatchOptions,
  type PatchType,
  statusCodeOf,
  type UpdateOptions,
} from './client.ts';
export { type Clock, ManualClock, systemClock } from './clock.ts';
export {
  type CoalesceOptions,
  Controller,
  type ControllerOptions,
  type KeyMapper,
  type ReconcileContext,
  type ReconcileOutcome,
  type ReconcileResult,
  type Reconciler,
  TerminalError,
  type WatchOptions,
  yieldIfSliceUsed,
} from './controller.ts';
export { type EventHandler, type IndexFunction, Informer, type InformerOptions } from './informer.ts';
export { keyFor, keyOf, splitKey } from './keys.ts';
export { Manager, type ManagerOptions, type Runnable } from './manager.ts';
export { Counter, DURATION_BUCKETS, Gauge, Histogram, MetricsRegistry } from './metrics.ts';
export {
  allOf,
  annotationsChanged,
  anyOf,
  generationChanged,
  isResync,
  labelsChanged,
  lifecycleChanged,
  not,
  type Predicate,
  updateWhen,
} from './predicates.ts';
export { ExponentialBackoff, type ExponentialBackoffOptions, type RateLimiter } from './rate-limiter.ts';
export { WorkQueue, type WorkQueueOptions } from './workqueue.ts';
