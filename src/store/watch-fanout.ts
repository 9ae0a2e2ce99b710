import type { WatchEvent, WatchSink } from './store.ts';

interface Subscriber {
  readonly prefix: string;
  readonly sink: WatchSink;
  readonly onError: (error: unknown) => void;
  active: boolean;
}

/**
 * Delivers committed events to live watchers, indexed by prefix so that a
 * write costs a handful of map lookups however many watchers are open.
 *
 * Watch prefixes are empty (everything), end with `/`, or are a whole key; an
 * event's key is matched against the empty prefix, each of its `/`-bounded
 * prefixes and itself.
 */
export class WatchFanout {
  readonly #byPrefix = new Map<string, Set<Subscriber>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /**
   * Registers a sink; the returned function unregisters it. A sink that throws
   * is unregistered and its error handed to `onError`, so that one broken
   * watcher can neither starve the others nor fail the commit that published.
   */
  subscribe(prefix: string, sink: WatchSink, onError: (error: unknown) => void): () => void {
    const subscriber: Subscriber = { prefix, sink, onError, active: true };
    let set = this.#byPrefix.get(prefix);
    if (!set) {
      set = new Set();
      this.#byPrefix.set(prefix, set);
    }
    set.add(subscriber);
    this.#size++;
    return () => this.#remove(subscriber);
  }

  /** Delivers a batch of events, in order, each subscriber getting its matching events as one batch. */
  publish(events: readonly WatchEvent[]): void {
    if (this.#size === 0 || events.length === 0) return;
    const batches = new Map<Subscriber, WatchEvent[]>();
    for (const event of events) {
      for (const prefix of keyPrefixes(event.key)) {
        const set = this.#byPrefix.get(prefix);
        if (!set) continue;
        for (const subscriber of set) {
          const batch = batches.get(subscriber);
          if (batch) batch.push(event);
          else batches.set(subscriber, [event]);
        }
      }
    }
    for (const [subscriber, batch] of batches) {
      // A sink may end another watch (abort) while this loop runs: it must not get this batch.
      if (!subscriber.active) continue;
      try {
        subscriber.sink(batch);
      } catch (error) {
        this.#remove(subscriber);
        subscriber.onError(error);
      }
    }
  }

  #remove(subscriber: Subscriber): void {
    if (!subscriber.active) return;
    subscriber.active = false;
    this.#size--;
    const set = this.#byPrefix.get(subscriber.prefix);
    set?.delete(subscriber);
    if (set?.size === 0) this.#byPrefix.delete(subscriber.prefix);
  }
}

/** `/a/b/c` → ``, `/`, `/a/`, `/a/b/`, `/a/b/c`. */
function* keyPrefixes(key: string): Generator<string> {
  yield '';
  let index = key.indexOf('/');
  while (index !== -1) {
    yield key.slice(0, index + 1);
    index = key.indexOf('/', index + 1);
  }
  if (key !== '' && !key.endsWith('/')) yield key;
}
