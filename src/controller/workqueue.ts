import { type Clock, systemClock } from './clock.ts';
import { ExponentialBackoff, type RateLimiter } from './rate-limiter.ts';

export interface WorkQueueOptions {
  /** @default systemClock */
  readonly clock?: Clock;
  /** Delays of {@link WorkQueue.addRateLimited}. @default new ExponentialBackoff() (5 ms doubling to 1000 s) */
  readonly rateLimiter?: RateLimiter;
}

/**
 * A queue of keys to reconcile, with client-go's guarantees:
 *
 * - a key is queued at most once however often it is added (de-duplicated);
 * - a key is never handed to two workers at once: added while being
 *   processed, it is queued again once {@link WorkQueue.done} is called;
 * - {@link WorkQueue.addAfter} delays an add (the earliest pending delay of a
 *   key wins); {@link WorkQueue.addRateLimited} delays by the key's backoff,
 *   which {@link WorkQueue.forget} resets;
 * - {@link WorkQueue.addCoalesced} holds keys until a window closes, then
 *   adds them together, each once;
 * - after {@link WorkQueue.shutdown}, `get()` answers `undefined` and adds are ignored.
 */
export class WorkQueue {
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  /** Keys waiting, in order. */
  readonly #queue: string[] = [];
  #head = 0;
  /** Keys that need processing (queued, or added again while processing). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: unknown }>();
  /** Keys held by the open coalescing window, in the order they came. */
  readonly #coalesced = new Set<string>();
  #coalesceTimer: unknown;
  readonly #waiters: Array<(key: string | undefined) => void> = [];
  #shutDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#limiter = options.rateLimiter ?? new ExponentialBackoff();
  }

  /** Queues `key` unless it is queued already. */
  add(key: string): void {
    if (this.#shutDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    // Being processed: done() queues it again, so that one worker sees it at a time.
    if (this.#processing.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
  }

  /** Queues `key` after `delayMs`; a shorter delay already pending for it wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shutDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.#clock.clearTimeout(pending.timer);
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { at, timer });
  }

  /**
   * Holds `key` until the open coalescing window closes, then {@link WorkQueue.add}s
   * every key it holds, in the order they came; opens a window of `windowMs`
   * when none is open. A flood of requests for a few keys thus queues each
   * once per window, at most `windowMs` after the first request of the window.
   * Keys queued by other means are not held back (a plain add queues at once).
   */
  addCoalesced(key: string, windowMs: number): void {
    if (this.#shutDown) return;
    this.#coalesced.add(key);
    this.#coalesceTimer ??= this.#clock.setTimeout(() => {
      this.#coalesceTimer = undefined;
      // add() never comes back here, so the set cannot grow while it is walked.
      for (const held of this.#coalesced) this.add(held);
      this.#coalesced.clear();
    }, windowMs);
  }

  /** Queues `key` after its backoff delay (which grows with each call until {@link WorkQueue.forget}). */
  addRateLimited(key: string): void {
    this.addAfter(key, this.#limiter.when(key));
  }

  /** Resets the key's backoff. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  /** How many rate-limited retries the key has had since it was last forgotten. */
  numRequeues(key: string): number {
    return this.#limiter.retries(key);
  }

  /**
   * The next key to process, waiting for one; `undefined` once shut down.
   * The caller must call {@link WorkQueue.done} with it when finished.
   */
  get(): Promise<string | undefined> {
    if (this.#shutDown) return Promise.resolve(undefined);
    if (this.#head < this.#queue.length) {
      const key = this.#queue[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` processed; queues it again if it was added meanwhile. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  /** Keys queued and ready (not counting delayed ones or those being processed). */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  /** Keys handed out and not yet done. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Whether nothing is queued, held for coalescing, delayed or being processed. */
  get idle(): boolean {
    return (
      this.length === 0 &&
      this.#coalesced.size === 0 &&
      this.#delayed.size === 0 &&
      this.#processing.size === 0
    );
  }

  /** Keys held by the open coalescing window ({@link WorkQueue.addCoalesced}). */
  get coalesced(): number {
    return this.#coalesced.size;
  }

  /** Keys waiting for a delay to pass. */
  get delayed(): number {
    return this.#delayed.size;
  }

  get isShutDown(): boolean {
    return this.#shutDown;
  }

  /** Stops the queue: waiting and later `get()` calls answer `undefined`, pending delays and held keys are dropped. */
  shutdown(): void {
    if (this.#shutDown) return;
    this.#shutDown = true;
    for (const { timer } of this.#delayed.values()) this.#clock.clearTimeout(timer);
    this.#delayed.clear();
    if (this.#coalesceTimer !== undefined) this.#clock.clearTimeout(this.#coalesceTimer);
    this.#coalesceTimer = undefined;
    this.#coalesced.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}
