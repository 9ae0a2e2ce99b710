/**
 * Time as the controller runtime and leader election see it, so that tests can drive backoff,
 * delays and lease expiry without sleeping. Durations are measured on a monotonic clock of this
 * process only ({@link Clock.now}), never by comparing timestamps written by another machine; wall
 * time ({@link Clock.wall}) only fills timestamps written for people to read (a Lease's renewTime).
 */
export interface Clock {
  /** Milliseconds on a monotonic scale that never jumps (only differences mean anything). */
  now(): number;
  /** The wall-clock time, for timestamps written into objects. */
  wall(): Date;
  /** Calls `callback` once after `ms`; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Resolves after `ms` milliseconds of this clock, or as soon as `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * The process's clocks: `performance.now()`, `Date` and Node's timers. Timers are unref'd (a
 * pending retry never keeps a process alive); a sleep is not (whoever awaits it is still working).
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => new Date(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref?.();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
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

/**
 * A clock that moves only when told: {@link ManualClock.advance} fires, in order, every timer
 * (and wakes every sleep) that has come due. Its wall time is a fixed epoch plus its monotonic
 * time. For tests.
 */
export class ManualClock implements Clock {
  #now = 0;
  #nextId = 1;
  readonly #epoch: number;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  /** @param epoch the wall time at monotonic 0, in ms since 1970. @default 2026-01-01T00:00:00Z */
  constructor(epoch = Date.UTC(2026, 0, 1)) {
    this.#epoch = epoch;
  }

  now(): number {
    return this.#now;
  }

  wall(): Date {
    return new Date(this.#epoch + this.#now);
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** A sleep of no time, or on an aborted signal, resolves at once; others wait for {@link advance}. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.clearTimeout(timer);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = this.setTimeout(wake, ms);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  /** Timers not yet fired, sleeps included. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in the order they come due. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].callback();
    }
    this.#now = target;
  }
}
