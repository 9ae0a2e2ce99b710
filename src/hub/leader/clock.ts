/**
 * The time leader election reads. Durations (is the lease expired? is the
 * renew deadline past?) are measured on a monotonic clock of this process
 * only, never by comparing timestamps written by another machine; wall time
 * only fills the Lease's acquireTime and renewTime for people to read.
 */
export interface Clock {
  /** Milliseconds on a clock that never jumps (only differences mean anything). */
  monotonic(): number;
  /** The wall-clock time, for timestamps written into the Lease. */
  wall(): Date;
  /** Resolves after `ms` milliseconds of this clock, or as soon as `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The process's clocks: `performance.now()` and `Date`. */
export const systemClock: Clock = {
  monotonic: () => performance.now(),
  wall: () => new Date(),
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener('abort', done, { once: true });
    });
  },
};

interface Sleeper {
  readonly at: number;
  readonly wake: () => void;
}

/**
 * A clock that moves only when told to ({@link ManualClock.advance}), so that
 * tests decide when leases expire. Its wall time is a fixed epoch plus its
 * monotonic time.
 */
export class ManualClock implements Clock {
  #now = 0;
  readonly #epoch: number;
  #sleepers: Sleeper[] = [];

  constructor(epoch = Date.UTC(2026, 0, 1)) {
    this.#epoch = epoch;
  }

  monotonic(): number {
    return this.#now;
  }

  wall(): Date {
    return new Date(this.#epoch + this.#now);
  }

  /** How many sleeps are waiting for the clock to move. */
  get sleeping(): number {
    return this.#sleepers.length;
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper: Sleeper = {
        at: this.#now + ms,
        wake: () => {
          this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
          signal.removeEventListener('abort', sleeper.wake);
          resolve();
        },
      };
      this.#sleepers.push(sleeper);
      signal.addEventListener('abort', sleeper.wake, { once: true });
    });
  }

  /** Moves the clock forward and wakes every sleep that is due. */
  advance(ms: number): void {
    this.#now += ms;
    for (const sleeper of this.#sleepers.filter((s) => s.at <= this.#now)) sleeper.wake();
  }
}
