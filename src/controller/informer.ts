import type { Logger } from 'pino';
import type { KindDefinition, KubeObject } from '../api/index.ts';
import { type Client, type ObjectEvent, statusCodeOf } from './client.ts';
import { type Clock, systemClock } from './clock.ts';
import { keyFor, keyOf } from './keys.ts';

/**
 * Called with objects from the cache (frozen: copy before changing). Handlers
 * run synchronously as events are applied and must be quick (enqueue keys);
 * an exception is logged and otherwise ignored.
 */
export interface EventHandler {
  onAdd?(object: KubeObject): void;
  /** `old` and `object` are the same object on a periodic resync. */
  onUpdate?(old: KubeObject, object: KubeObject): void;
  /** The object's last known state. */
  onDelete?(object: KubeObject): void;
}

/** Values an object is indexed under (e.g. its owners' uids). */
export type IndexFunction = (object: KubeObject) => Iterable<string>;

export interface InformerOptions {
  readonly client: Client;
  readonly kind: KindDefinition;
  /** Watch one namespace only; every namespace when absent. */
  readonly namespace?: string;
  readonly logger?: Logger;
  /** Every so often, call `onUpdate(object, object)` for every cached object. @default 0 (never) */
  readonly resyncPeriodMs?: number;
  /** Delay before retrying a list that failed (doubling to 30 s). @default 100 */
  readonly retryDelayMs?: number;
  /**
   * What the cache keeps of each object, applied once as it is parsed, before it
   * is frozen, indexed and handed to handlers: e.g. only the metadata a lookup
   * needs, so that a cache of 10,000 Devices holds names and uids rather than
   * statuses. It must keep `metadata.name`, `metadata.namespace` and
   * `metadata.resourceVersion`.
   * @default the whole object
   */
  readonly transform?: (object: KubeObject) => KubeObject;
  /**
   * Tells, from a MODIFIED event's JSON text and before it is parsed, that the
   * write leaves the cached (transformed) object as this informer's users see
   * it: the event is then skipped (no parse, no handlers) and the cached object
   * keeps its older resourceVersion. For an informer that keeps a part of each
   * object and sees many writes that do not touch it (heartbeats); a relist
   * brings every cached object up to date again.
   * @default none: every event is applied
   */
  readonly unchanged?: (text: string, cached: KubeObject) => boolean;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Keeps a local, read-only copy of one kind (optionally one namespace): lists,
 * then watches from the list's revision, through a {@link Client}. On a 410 (history
 * compacted) or when the watch ends for any other reason (a slow watcher
 * dropped), it lists again and reconciles the cache with the result,
 * synthesising DELETED for objects that vanished meanwhile and MODIFIED for
 * those that changed, so handlers see every change of state even when they
 * miss the events.
 */
export class Informer {
  readonly kind: KindDefinition;
  readonly namespace: string | undefined;
  readonly #client: Client;
  readonly #logger: Logger | undefined;
  readonly #clock: Clock;
  readonly #resyncPeriodMs: number;
  readonly #retryDelayMs: number;
  readonly #transform: ((object: KubeObject) => KubeObject) | undefined;
  readonly #unchanged: ((text: string, cached: KubeObject) => boolean) | undefined;
  readonly #cache = new Map<string, KubeObject>();
  readonly #handlers = new Set<EventHandler>();
  readonly #indexes = new Map<string, { fn: IndexFunction; values: Map<string, Set<string>> }>();
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  #revision = 0;
  #relists = 0;
  #started = false;

  constructor(options: InformerOptions) {
    this.kind = options.kind;
    this.namespace = options.kind.namespaced ? options.namespace : undefined;
    this.#client = options.client;
    this.#logger = options.logger?.child({ informer: options.kind.kind, namespace: this.namespace });
    this.#clock = options.clock ?? systemClock;
    this.#resyncPeriodMs = options.resyncPeriodMs ?? 0;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#transform = options.transform;
    this.#unchanged = options.unchanged;
  }

  /** The cached object, or undefined. Frozen: never change it. */
  get(namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#cache.get(keyFor(this.kind.namespaced ? namespace : undefined, name));
  }

  /** The cached object under a `namespace/name` key. */
  getByKey(key: string): KubeObject | undefined {
    return this.#cache.get(key);
  }

  /** Every cached object (frozen). */
  list(): KubeObject[] {
    return [...this.#cache.values()];
  }

  /** Every cached key (`namespace/name` or `name`). */
  keys(): string[] {
    return [...this.#cache.keys()];
  }

  get size(): number {
    return this.#cache.size;
  }

  /** Whether the first list has been applied (the cache is complete as of some revision). */
  get hasSynced(): boolean {
    return this.#synced;
  }

  /** The revision the cache reflects. */
  get revision(): number {
    return this.#revision;
  }

  /** How many times the informer listed again after its first list (410, watch ended). */
  get relists(): number {
    return this.#relists;
  }

  /** Resolves true once synced, false if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  /**
   * Adds a handler; when the cache is already synced, it gets an `onAdd` for
   * every cached object first. Returns a function that removes it.
   */
  addEventHandler(handler: EventHandler): () => void {
    this.#handlers.add(handler);
    if (this.#synced) for (const object of this.#cache.values()) this.#call(handler, 'onAdd', object);
    return () => this.#handlers.delete(handler);
  }

  /** Adds an index; objects already cached are indexed at once. */
  addIndex(name: string, fn: IndexFunction): void {
    if (this.#indexes.has(name)) throw new Error(`index ${name} exists already`);
    const index = { fn, values: new Map<string, Set<string>>() };
    this.#indexes.set(name, index);
    for (const [key, object] of this.#cache) this.#indexAdd(index, key, object);
  }

  /** Cached objects the index maps `value` to. */
  byIndex(name: string, value: string): KubeObject[] {
    const index = this.#indexes.get(name);
    if (!index) throw new Error(`no index ${name}`);
    const keys = index.values.get(value);
    if (!keys) return [];
    return [...keys].map((key) => this.#cache.get(key)!);
  }

  /** Calls `onUpdate(object, object)` for every cached object (what a periodic resync does). */
  resync(): void {
    for (const object of this.#cache.values()) this.#emitUpdate(object, object);
  }

  /** Lists and watches until `signal` aborts. Start once. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#started) throw new Error(`informer for ${this.kind.kind} started twice`);
    this.#started = true;
    let resyncTimer: unknown;
    const scheduleResync = () => {
      resyncTimer = this.#clock.setTimeout(() => {
        if (signal.aborted) return;
        this.resync();
        scheduleResync();
      }, this.#resyncPeriodMs);
    };
    if (this.#resyncPeriodMs > 0) scheduleResync();
    let delay = this.#retryDelayMs;
    try {
      while (!signal.aborted) {
        try {
          await this.#listAndWatch(signal);
          delay = this.#retryDelayMs;
        } catch (error) {
          if (signal.aborted) return;
          this.#logger?.warn({ err: error }, 'list and watch failed; retrying');
          await this.#sleep(delay, signal);
          delay = Math.min(delay * 2, 30_000);
        }
      }
    } finally {
      if (resyncTimer !== undefined) this.#clock.clearTimeout(resyncTimer);
    }
  }

  async #listAndWatch(signal: AbortSignal): Promise<void> {
    const list = await this.#client.list(this.kind, this.namespace, {});
    if (signal.aborted) return;
    this.#replace(
      list.items.map((item) => this.#parse(item.value)),
      list.revision,
    );
    const controller = new AbortController();
    const stop = () => controller.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      const watch = await this.#client.watch(
        this.kind,
        this.namespace,
        { afterRevision: list.revision, signal: controller.signal },
        (events) => this.#apply(events),
      );
      // Resolves on abort and at shutdown; rejects when the server drops the watcher.
      await watch.done.catch((error: unknown) => {
        this.#logger?.info({ err: error }, 'watch ended; listing again');
      });
    } catch (error) {
      // Compacted between our list and our watch: list again.
      if (statusCodeOf(error) !== 410) throw error;
      this.#logger?.info({ err: error }, 'watch expired; listing again');
    } finally {
      signal.removeEventListener('abort', stop);
      controller.abort();
    }
    if (!signal.aborted) this.#relists++;
  }

  /** Makes the cache exactly `objects`, telling handlers what changed. */
  #replace(objects: KubeObject[], revision: number): void {
    const seen = new Set<string>();
    for (const object of objects) {
      const key = keyOf(object);
      seen.add(key);
      const old = this.#cache.get(key);
      if (old && old.metadata.resourceVersion === object.metadata.resourceVersion) continue;
      this.#set(key, deepFreeze(object), old);
    }
    for (const [key, old] of [...this.#cache]) {
      if (!seen.has(key)) this.#remove(key, old);
    }
    this.#revision = Math.max(this.#revision, revision);
    if (!this.#synced) {
      this.#synced = true;
      for (const waiter of this.#syncWaiters.splice(0)) waiter();
    }
  }

  #apply(events: readonly ObjectEvent[]): void {
    const unchanged = this.#unchanged;
    for (const event of events) {
      if (unchanged !== undefined && event.type === 'MODIFIED') {
        const cached = this.#cache.get(this.#cacheKeyOf(event.key));
        if (cached !== undefined && unchanged(event.value, cached)) {
          this.#revision = event.revision;
          continue;
        }
      }
      // The echo of a write of this process: the object it was stored from, not the text parsed again.
      const echo = this.#client.echoOf?.(event.value);
      const object = deepFreeze(echo === undefined ? this.#parse(event.value) : this.#transformed(echo));
      const key = keyOf(object);
      const old = this.#cache.get(key);
      if (event.type === 'DELETED') {
        if (old) this.#remove(key, object);
      } else {
        this.#set(key, object, old);
      }
      this.#revision = event.revision;
    }
  }

  #parse(text: string): KubeObject {
    return this.#transformed(JSON.parse(text) as KubeObject);
  }

  #transformed(object: KubeObject): KubeObject {
    return this.#transform ? this.#transform(object) : object;
  }

  /** The cache key of an event's object from the event's key (`.../NAMESPACE/NAME` or `.../NAME`). */
  #cacheKeyOf(eventKey: string): string {
    const last = eventKey.lastIndexOf('/');
    if (!this.kind.namespaced) return eventKey.slice(last + 1);
    return eventKey.slice(eventKey.lastIndexOf('/', last - 1) + 1);
  }

  #set(key: string, object: KubeObject, old: KubeObject | undefined): void {
    if (old) this.#unindex(key, old);
    this.#cache.set(key, object);
    for (const index of this.#indexes.values()) this.#indexAdd(index, key, object);
    if (old) this.#emitUpdate(old, object);
    else for (const handler of this.#handlers) this.#call(handler, 'onAdd', object);
  }

  /** Removes `key`; `last` is the object's last state (the tombstone's when known). */
  #remove(key: string, last: KubeObject): void {
    const old = this.#cache.get(key);
    if (old) this.#unindex(key, old);
    this.#cache.delete(key);
    for (const handler of this.#handlers) this.#call(handler, 'onDelete', last);
  }

  #emitUpdate(old: KubeObject, object: KubeObject): void {
    for (const handler of this.#handlers) {
      try {
        handler.onUpdate?.(old, object);
      } catch (error) {
        this.#logger?.error({ err: error }, 'event handler failed');
      }
    }
  }

  #call(handler: EventHandler, method: 'onAdd' | 'onDelete', object: KubeObject): void {
    try {
      handler[method]?.(object);
    } catch (error) {
      this.#logger?.error({ err: error }, 'event handler failed');
    }
  }

  #indexAdd(
    index: { fn: IndexFunction; values: Map<string, Set<string>> },
    key: string,
    object: KubeObject,
  ): void {
    for (const value of index.fn(object)) {
      const keys = index.values.get(value);
      if (keys) keys.add(key);
      else index.values.set(value, new Set([key]));
    }
  }

  #unindex(key: string, object: KubeObject): void {
    for (const index of this.#indexes.values()) {
      for (const value of index.fn(object)) {
        const keys = index.values.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index.values.delete(value);
      }
    }
  }

  #sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(done, ms);
      function done() {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }
      const clock = this.#clock;
      function onAbort() {
        clock.clearTimeout(timer);
        resolve();
      }
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
