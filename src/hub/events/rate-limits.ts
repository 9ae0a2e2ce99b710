/**
 * The recorder's limits on how much it writes: token buckets, one per
 * object and reason (client-go's `EventSourceObjectSpamFilter`) in a bounded
 * LRU, and one for the whole recorder. Times are monotonic milliseconds.
 */

/** A token bucket: `burst` tokens at first, one more every `refillEveryMs`, never more than `burst`. */
export class TokenBucket {
  readonly #burst: number;
  readonly #refillEveryMs: number;
  #tokens: number;
  #at: number;

  constructor(burst: number, refillEveryMs: number, now: number) {
    this.#burst = burst;
    this.#refillEveryMs = refillEveryMs;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes a token if there is one (true), else false. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #refill(now: number): void {
    const elapsed = now - this.#at;
    if (elapsed <= 0) return;
    this.#tokens = Math.min(this.#burst, this.#tokens + elapsed / this.#refillEveryMs);
    this.#at = now;
  }
}

/** A token bucket's shape: how many at once, and how often one more. */
export interface BucketOptions {
  readonly burst: number;
  readonly refillEveryMs: number;
}

/**
 * One token bucket per key (an object and a reason), the least recently
 * used forgotten beyond `maxKeys`, as client-go's LRU of spam records:
 * forgetting only ever gives a key a full bucket again.
 */
export class KeyedBuckets {
  readonly #options: BucketOptions;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(options: BucketOptions, maxKeys: number) {
    this.#options = options;
    this.#maxKeys = maxKeys;
  }

  /** Takes a token from `key`'s bucket (true), or answers false when it is empty. */
  take(key: string, now: number): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket) {
      // Most recently used last: Map keeps insertion order.
      this.#buckets.delete(key);
    } else {
      bucket = new TokenBucket(this.#options.burst, this.#options.refillEveryMs, now);
      // The least recently used goes: beyond this many objects at once, the global cap is what holds.
      if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(key, bucket);
    return bucket.take(now);
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#buckets.size;
  }
}
