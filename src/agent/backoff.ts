/**
 * Capped exponential backoff with jitter. Its delays are waited for with
 * `delay` and measured with `monotonicMs` (src/util/): every period, timeout
 * and delay in the agent is on the monotonic clock, so a wall clock that
 * jumps a day forward or back changes no rhythm; wall time is used only for
 * timestamps written to the hub.
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** The first delay. @default 1000 */
  readonly initialMs?: number;
  /** The longest delay. @default 60000 */
  readonly maxMs?: number;
  /** Multiplier per failure. @default 2 */
  readonly factor?: number;
  /**
   * How much of each delay is random: 0 gives exact delays, 1 gives a delay
   * anywhere in [0, d] (full jitter). Jitter spreads a fleet's reconnects
   * after a hub restart. @default 0.5 (a delay in [d/2, d])
   */
  readonly jitter?: number;
  /** Random source in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Delays that grow with each failure until {@link Backoff.reset}. */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 1000;
    this.#max = options.maxMs ?? 60_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
    this.#random = options.random ?? Math.random;
  }

  /** Failures since the last reset. */
  get failures(): number {
    return this.#failures;
  }

  /** Counts a failure and returns how long to wait before the next attempt. */
  next(): number {
    const base = Math.min(this.#max, this.#initial * this.#factor ** this.#failures);
    this.#failures++;
    return Math.round(base * (1 - this.#jitter * this.#random()));
  }

  /** Back to the first delay (after a success). */
  reset(): void {
    this.#failures = 0;
  }
}

/**
 * How the agent reconnects to the hub (its Mailbox watch, its reports): 1 s doubling to at
 * most 60 s, with full jitter (each delay anywhere in [0, d]). When a hub restarts, every
 * device loses its connection in the same instant; with half jitter their first retries
 * would all land within half a second and their later ones in narrow bands, each a storm of
 * TLS handshakes and relists the hub answers with timeouts, which double everyone's delay
 * again. Full jitter spreads each round over its whole window, so a fleet comes back at an
 * even rate of about N / d per second, and no device waits more than the 60 s cap once the
 * hub answers. `bench/fleet/` simulates devices with this same backoff.
 */
export const RECONNECT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 60_000, jitter: 1 };

/** A new {@link Backoff} with {@link RECONNECT_BACKOFF}. */
export function reconnectBackoff(): Backoff {
  return new Backoff(RECONNECT_BACKOFF);
}
