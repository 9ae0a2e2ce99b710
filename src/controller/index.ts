/**
 * The controller runtime: what every hub controller is built from. It knows
 * no Outpost kind; it works on any `KindDefinition` served by an
 * `ObjectService`. Its shape is controller-runtime's:
 *
 * - {@link Informer}: lists one kind (optionally one namespace), then watches
 *   the store from the list's revision, keeping a local cache of parsed,
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
 *   with N workers, once its informers have synced. `watch(informer, map?)`
 *   enqueues keys from an informer's events (default: the object's own
 *   `namespace/name`); `reads(informer)` only waits for its sync.
 *   Metrics: `controller_reconcile_total{controller,result}`,
 *   `controller_reconcile_time_seconds{controller}`, `workqueue_retries_total{controller}`.
 * - {@link Manager}: shared informers (`informer(kind, namespace?)`),
 *   controllers (`controller({ reconciler, workers })`), one
 *   {@link MetricsRegistry}, all started by `start(signal)`, which resolves
 *   once the signal aborted and everything stopped.
 *
 * Keys are strings; by convention `namespace/name` or `name` ({@link keyFor},
 * {@link keyOf}, {@link splitKey}). A reconcile reads state again (cache, or
 * the service for a fresh read before a destructive decision), writes through
 * `ObjectService` with `{ fieldManager }` and a resourceVersion precondition
 * where it read-modify-writes, and writes nothing when the state already holds.
 *
 * @example
 * ```ts
 * const manager = new Manager({ service, logger });
 * const things = manager.informer(thingKind);
 * manager.controller({ reconciler: { name: 'thing', async reconcile(key) { ... } } }).watch(things);
 * await manager.start(signal); // until signal aborts
 * ```
 */
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
  turnIfSliceUsed,
  type WatchOptions,
} from './controller.ts';
export { type EventHandler, type IndexFunction, Informer, type InformerOptions } from './informer.ts';
export { keyFor, keyOf, splitKey } from './keys.ts';
export { Manager, type ManagerOptions, type Runnable } from './manager.ts';
export { Counter, DURATION_BUCKETS, Histogram, MetricsRegistry } from './metrics.ts';
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
