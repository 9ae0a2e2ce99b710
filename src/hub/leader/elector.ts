import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../controller/index.ts';
import { type LeaderRecord, type LeaseLock, microTime, type ObservedLease } from './lease-lock.ts';

/** Options of {@link LeaderElector}; durations as client-go's leaderelection names them. */
export interface LeaderElectorOptions {
  /** The Lease the replicas compete for. */
  readonly lock: LeaseLock;
  /** This replica's name in the Lease; unique per process. @default `HOSTNAME_RANDOM-UUID` */
  readonly identity?: string;
  /**
   * How long a candidate waits, from the last change of the Lease it saw, before taking a lease
   * whose holder stopped renewing. Written to the Lease in whole seconds. @default 15_000
   */
  readonly leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it gives up leading. @default leaseDuration × 10/15 */
  readonly renewDeadlineMs?: number;
  /** How often the leader renews and candidates retry (candidates with jitter). @default leaseDuration × 2/15 */
  readonly retryPeriodMs?: number;
  /**
   * Runs while this replica leads (the controllers). Its signal aborts when leadership ends;
   * it must settle soon after, since the lease is released or left to expire only once it has.
   */
  readonly whileLeading: (signal: AbortSignal) => Promise<void>;
  /** Whether a clean stop hands the lease back so that another replica takes it at once. @default true */
  readonly releaseOnStop?: boolean;
  /** @default the process clocks */
  readonly clock?: Clock;
  /** @default Math.random (jitter of the candidates' retries) */
  readonly random?: () => number;
  readonly logger?: Logger;
}

/** What a replica knows about the election, for logs and `/debug/leader`. */
export interface LeaderStatus {
  readonly identity: string;
  readonly leading: boolean;
  /** The holder the last read of the Lease named ('' when released); undefined before any read. */
  readonly holder: string | undefined;
  readonly lease: string;
}

/** client-go's jitter factor for candidates: waits are spread over [retry, 2.2 × retry]. */
const JITTER_FACTOR = 1.2;

type Attempt = 'acquired' | 'held';

/**
 * Leader election through a Lease, as client-go's leaderelection does it:
 * candidates create the Lease or take it when released or expired; the
 * leader renews it every retry period; every write carries the
 * resourceVersion it read, so of two racing replicas exactly one wins.
 *
 * Expiry is judged on this process's monotonic clock from when it last saw
 * the Lease change, never by comparing the renewTime another machine wrote.
 * The leader counts its renew deadline from when its last successful renewal
 * *started*, so it stops its controllers (renewDeadline after that start)
 * before any other replica can see the Lease expire (leaseDuration after it
 * saw that renewal, which happened later).
 */
export class LeaderElector {
  readonly identity: string;
  readonly #lock: LeaseLock;
  readonly #leaseMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  readonly #whileLeading: (signal: AbortSignal) => Promise<void>;
  readonly #release: boolean;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #logger: Logger | undefined;
  #observed: ObservedLease | undefined;
  #observedAt = 0;
  #lastRenewStart = 0;
  #leading = false;
  #inflight: Promise<unknown> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.identity = options.identity ?? `${hostname()}_${randomUUID()}`;
    this.#lock = options.lock;
    this.#leaseMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? (this.#leaseMs * 10) / 15;
    this.#retryMs = options.retryPeriodMs ?? (this.#leaseMs * 2) / 15;
    if (this.#leaseMs < 1000 || this.#leaseMs % 1000 !== 0)
      throw new RangeError('the lease duration must be a whole number of seconds, at least 1');
    if (!(this.#renewDeadlineMs < this.#leaseMs))
      throw new RangeError('the renew deadline must be shorter than the lease duration');
    if (!(this.#retryMs > 0 && this.#retryMs * JITTER_FACTOR < this.#renewDeadlineMs))
      throw new RangeError('the retry period × 1.2 must be shorter than the renew deadline');
    this.#whileLeading = options.whileLeading;
    this.#release = options.releaseOnStop ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger?.child({ component: 'leader-election', identity: this.identity });
  }

  status(): LeaderStatus {
    return {
      identity: this.identity,
      leading: this.#leading,
      holder: this.#observed?.record.holderIdentity,
      lease: this.#lock.description,
    };
  }

  /**
   * Competes for the lease until `signal` aborts, leading whenever it holds
   * it. Resolves once stopped: controllers ended and, on a clean stop, the
   * lease released.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.#acquire(signal))) break;
      const reason = await this.#lead(signal);
      if (signal.aborted) break;
      this.#logger?.warn({ reason }, 'lost leadership');
      await this.#clock.sleep(this.#retryMs, signal);
    }
    if (this.#release) await this.#releaseLease();
  }

  /** Tries until this replica holds the lease (true) or `signal` aborts (false). */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    let lastHolder: string | undefined;
    while (!signal.aborted) {
      const started = this.#clock.now();
      try {
        if ((await this.#attempt()) === 'acquired') {
          if (signal.aborted) return false; // the run loop releases it
          this.#lastRenewStart = started;
          return true;
        }
        const holder = this.#observed?.record.holderIdentity;
        if (holder !== lastHolder) this.#logger?.info({ holder }, 'leader observed');
        lastHolder = holder;
      } catch (err) {
        this.#logger?.warn({ err }, 'could not read or write the lease');
      }
      await this.#clock.sleep(this.#retryMs * (1 + this.#random() * JITTER_FACTOR), signal);
    }
    return false;
  }

  /** Leads until renewal fails past the deadline, another holder appears, the work ends or `signal` aborts. */
  async #lead(signal: AbortSignal): Promise<string> {
    this.#leading = true;
    this.#logger?.info({ lease: this.#lock.description }, 'became leader');
    const controllers = new AbortController();
    const stopRenewing = new AbortController();
    const onAbort = () => stopRenewing.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let ended = false;
    const running = Promise.resolve()
      .then(() => this.#whileLeading(controllers.signal))
      .catch((err: unknown) => this.#logger?.error({ err }, 'controllers failed'))
      .finally(() => {
        ended = true;
        stopRenewing.abort();
      });
    let reason: string;
    for (;;) {
      await this.#clock.sleep(this.#retryMs, stopRenewing.signal);
      if (signal.aborted) reason = 'stopped';
      else if (ended) reason = 'controllers ended';
      else {
        const started = this.#clock.now();
        const left = this.#lastRenewStart + this.#renewDeadlineMs - started;
        const outcome = left > 0 ? await this.#attemptWithin(left, stopRenewing.signal) : 'timeout';
        if (outcome === 'acquired') {
          this.#lastRenewStart = started;
          continue;
        }
        if (outcome === 'error' || outcome === 'aborted') continue; // retried; the deadline still bounds it
        reason = outcome === 'held' ? 'another replica holds the lease' : 'renew deadline passed';
      }
      break;
    }
    // Stop the controllers first: only then may the lease be released or left to expire.
    this.#leading = false;
    controllers.abort();
    signal.removeEventListener('abort', onAbort);
    await running;
    this.#logger?.info({ reason }, 'stopped leading');
    return reason;
  }

  /** One renewal, given up (as far as this replica is concerned) when `ms` pass first. */
  async #attemptWithin(ms: number, signal: AbortSignal): Promise<Attempt | 'timeout' | 'error' | 'aborted'> {
    const timer = new AbortController();
    const onAbort = () => timer.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const attempt = this.#attempt().catch((err: unknown) => {
      this.#logger?.warn({ err }, 'could not renew the lease');
      return 'error' as const;
    });
    const expired = this.#clock.sleep(ms, timer.signal).then(() => (signal.aborted ? 'aborted' : 'timeout'));
    try {
      return await Promise.race([attempt, expired]);
    } finally {
      timer.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** client-go's tryAcquireOrRenew: one read and at most one conditional write. */
  async #attempt(): Promise<Attempt> {
    const run = this.#tryAcquireOrRenew();
    this.#inflight = run;
    return run;
  }

  async #tryAcquireOrRenew(): Promise<Attempt> {
    const now = microTime(this.#clock.wall());
    const mine: LeaderRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#leaseMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };
    const current = await this.#lock.get();
    if (!current) {
      const created = await this.#lock.create(mine);
      if (!created) return 'held';
      this.#observe(created);
      return 'acquired';
    }
    this.#observe(current);
    const { record } = current;
    const heldByOther = record.holderIdentity !== '' && record.holderIdentity !== this.identity;
    if (heldByOther && this.#observedAt + record.leaseDurationSeconds * 1000 > this.#clock.now())
      return 'held';
    const next: LeaderRecord =
      record.holderIdentity === this.identity
        ? { ...mine, acquireTime: record.acquireTime || now, leaseTransitions: record.leaseTransitions }
        : { ...mine, leaseTransitions: record.leaseTransitions + 1 };
    const written = await this.#lock.update(next, current.resourceVersion);
    if (!written) return 'held';
    this.#observe(written);
    return 'acquired';
  }

  /** Notes when the Lease last changed, by this process's clock. */
  #observe(lease: ObservedLease): void {
    const previous = this.#observed;
    if (previous && JSON.stringify(previous.record) === JSON.stringify(lease.record)) return;
    this.#observed = lease;
    this.#observedAt = this.#clock.now();
  }

  /** Hands the lease back (holder '' and a 1 s duration, as client-go does) if this replica still holds it. */
  async #releaseLease(): Promise<void> {
    try {
      // A renewal still in flight could otherwise land after the release and reclaim the lease.
      await this.#inflight?.catch(() => undefined);
      const current = await this.#lock.get();
      if (!current || current.record.holderIdentity !== this.identity) return;
      const now = microTime(this.#clock.wall());
      const released = await this.#lock.update(
        {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: current.record.leaseTransitions,
        },
        current.resourceVersion,
      );
      if (released) {
        this.#observe(released);
        this.#logger?.info('released the lease');
      }
    } catch (err) {
      this.#logger?.warn({ err }, 'could not release the lease; it expires on its own');
    }
  }
}
