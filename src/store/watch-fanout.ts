import type { WatchEvent, WatchSink } from './store.ts';

interface Subscriber {
  readonly prefix: string;
  readonly sink: WatchSink;
}

/**
 * Delivers committed events to live watchers, indexed by prefix so that a
 * write costs a handful of map lookups however many watchers are open.
 *
 * Watch prefixes end with `/` or are a whole key; an event's key is matched
 * against each of its `/`-bounded prefixes and against itself.
 */
export class WatchFanout {
  readonly #byPrefix = new Map<string, Set<Subscriber>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Registers a sink; the returned function unregisters it. */
  subscribe(prefix: string, sink: WatchSink): () => void {
    const subscriber: Subscriber = { prefix, sink };
    let set = this.#byPrefix.get(prefix);
    if (!set) {
      set = new Set();
      this.#byPrefix.set(prefix, set);
    }
    set.add(subscriber);
    this.#size++;
    return () => {
      if (set.delete(subscriber)) this.#size--;
      if (set.size === 0) this.#byPrefix.delete(prefix);
    };
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
    for (const [subscriber, batch] of batches) subscriber.sink(batch);
  }
}

/** `/a/b/c` → `/`, `/a/`, `/a/b/`, `/a/b/c`. */
function* keyPrefixes(key: string): Generator<string> {
  let index = key.indexOf('/');
  while (index !== -1) {
    yield key.slice(0, index + 1);
    index = key.indexOf('/', index + 1);
  }
  if (!key.endsWith('/')) yield key;
}
