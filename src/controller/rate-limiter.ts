/** Decides how long a key waits before its next retry. */
export interface RateLimiter {
  /** The delay before the key's next attempt; counts one more failure. */
  when(key: string): number;
  /** Forgets the key's failures (it succeeded, or was given up on). */
  forget(key: string): void;
  /** Failures counted since the key was last forgotten. */
  retries(key: string): number;
}

export interface ExponentialBackoffOptions {
  /** Delay after the first failure. @default 5 */
  readonly baseDelayMs?: number;
  /** Delays never exceed this. @default 1_000_000 (1000 s, client-go's default) */
  readonly maxDelayMs?: number;
}

/**
 * Per-key exponential backoff, client-go's `ItemExponentialFailureRateLimiter`:
 * the n-th consecutive failure of a key waits `base * 2^(n-1)`, capped.
 */
export class ExponentialBackoff implements RateLimiter {
  readonly #base: number;
  readonly #max: number;
  readonly #failures = new Map<string, number>();

  constructor(options: ExponentialBackoffOptions = {}) {
    this.#base = options.baseDelayMs ?? 5;
    this.#max = options.maxDelayMs ?? 1_000_000;
  }

  when(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    // 2^failures overflows to Infinity long after the cap applies; min() keeps it finite.
    return Math.min(this.#base * 2 ** failures, this.#max);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }
}
