import type { Logger } from 'pino';
import {
  type Mailbox,
  type MailboxObject,
  type MailboxSource,
  type ObjectStatus,
  updateWindowState,
} from '../../api/index.ts';
import { equalAsJson, monotonicMs } from '../../util/index.ts';
import { Backoff } from '../backoff.ts';
import { type ActualUnit, type DesiredUnit, type Runtime, unrunnableReason } from '../runtime/index.ts';
import type { CronPlan, CronRuns } from './cron-runs.ts';
import { desiredStateOf, refOf } from './desired.ts';

/**
 * The device side of the control loop, level-triggered: each pass compares
 * the Mailbox (desired) with what the runtime runs (actual), starts what is
 * missing, replaces what changed (by hash), removes what left, and computes
 * the per-object status, reported only when it changed. Passes run one at a
 * time, on a Mailbox change, on a runtime change (a process exited), after a
 * failed apply's backoff, and every `resyncMs` anyway. Before the first
 * Mailbox is known (no local copy, hub unreachable) nothing is touched: what
 * runs keeps running.
 */

/** Mailbox status as the agent writes it. */
export type MailboxStatus = NonNullable<Mailbox['status']>;

/** An object's status with the Workload it comes from. */
export interface SourcedStatus {
  readonly source: MailboxSource;
  readonly status: ObjectStatus;
}

/** Options of {@link UnitReconciler}. */
export interface UnitReconcilerOptions {
  readonly runtime: Runtime;
  /** Where Workloads' upload directories live (mounted into their containers). @default none: not mounted */
  readonly uploadsDir?: string;
  readonly log: Logger;
  /**
   * Called with a status that differs from the last one reported;
   * `transition` is true when a phase, readiness, reason or observed hash
   * changed (not only restart counts or messages).
   */
  readonly onStatus: (status: MailboxStatus, transition: boolean) => Promise<void>;
  /** Whether a Mailbox status is still waiting to be sent (then the hub's copy is not compared). */
  readonly statusPending?: () => boolean;
  /**
   * Why an object must not run now (a device profile's condition does not
   * hold): its unit is not started, or stopped and removed, and its status is
   * Pending with this reason. @default none held
   */
  readonly hold?: (entry: MailboxObject) => { readonly reason: string; readonly message: string } | undefined;
  /** The schedules of cron objects and their runs. @default none: cron objects are reported Failed */
  readonly cron?: CronRuns;
  /**
   * Which of the units that may run (not held, and the cron runs active or
   * due) must not, by unit id (the resource guard: requests past the
   * reserves, evictions). A refused unit is not started; an `Failed` one
   * (evicted) is also stopped and removed, while a `Pending` refusal of a
   * changed unit leaves the version that runs running. A refused cron run
   * ends Failed with the refusal's reason. @default none refused
   */
  readonly admit?: (
    units: readonly DesiredUnit[],
    actual: ReadonlyMap<string, ActualUnit>,
  ) => ReadonlyMap<string, Refusal>;
  /** Periodic pass. @default 10000 */
  readonly resyncMs?: number;
  /** Wall clock for lastTransitionTime. @default () => new Date() */
  readonly now?: () => Date;
}

/** Why a unit may not run (see {@link UnitReconcilerOptions.admit}). */
export interface Refusal {
  readonly phase: 'Pending' | 'Failed';
  readonly reason: string;
  readonly message: string;
}

/** How often a unit waiting for its update window looks again for what it still misses. */
const PREFETCH_RETRY_MS = 10_000;

/** Runs reconcile passes; see the module comment. */
export class UnitReconciler {
  readonly #options: UnitReconcilerOptions;
  #desired: Mailbox | undefined;
  #reported: MailboxStatus | undefined;
  #wake: (() => void) | undefined;
  #dirty = true;
  readonly #failures = new Map<string, { backoff: Backoff; retryAt: number; message: string }>();
  #statuses: SourcedStatus[] = [];
  /** When the first update window a replacement waits for opens (wall clock, ms). */
  #windowOpensAt: number | undefined;
  /** What a unit waiting for its window still misses, by unit id, for its hash; and when to look again. */
  readonly #prefetched = new Map<string, { hash: string; missing: readonly string[]; retryAt: number }>();

  constructor(options: UnitReconcilerOptions) {
    this.#options = options;
  }

  /** The per-object status of the last pass with each object's source (for heartbeats). */
  get statuses(): readonly SourcedStatus[] {
    return this.#statuses;
  }

  /** A new Mailbox (from the hub or the local copy). */
  setDesired(mailbox: Mailbox): void {
    const first = this.#desired === undefined;
    this.#desired = mailbox;
    const hubStatus = mailbox.status ?? {};
    if (first) this.#reported = hubStatus;
    else if (!this.#options.statusPending?.() && !sameStatus(hubStatus, this.#reported)) {
      // The hub holds something else than what was last sent (someone reset it): send again.
      this.#reported = hubStatus;
    }
    this.trigger();
  }

  /** Asks for a pass soon. */
  trigger(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** Runs passes until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const resync = this.#options.resyncMs ?? 10_000;
    const unsubscribe = this.#options.runtime.onChange(() => this.trigger());
    try {
      while (!signal.aborted) {
        if (this.#dirty) {
          this.#dirty = false;
          try {
            await this.pass();
          } catch (error) {
            this.#options.log.error({ err: error }, 'reconcile pass failed');
          }
          continue;
        }
        let retry = Math.min(...[...this.#failures.values()].map((f) => f.retryAt - monotonicMs()), resync);
        if (this.#windowOpensAt !== undefined) {
          // As for cron: at least every second, so that a clock that jumps is noticed within a second.
          retry = Math.min(retry, 1000, this.#windowOpensAt - this.#now().getTime());
        }
        const cron = this.#options.cron;
        if (cron?.active) {
          // At the next scheduled time (wall clock), and at least every second: a clock that jumps
          // is noticed within a second, not when a timer set on the old clock fires.
          retry = Math.min(retry, 1000);
          if (cron.nextDue !== undefined) retry = Math.min(retry, cron.nextDue - Date.now());
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(10, retry));
          function done() {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            resolve();
          }
          this.#wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        this.#wake = undefined;
        this.#dirty = true;
      }
    } finally {
      unsubscribe();
    }
  }

  /** One pass: converge, then report. */
  async pass(): Promise<void> {
    const mailbox = this.#desired;
    if (!mailbox) return;
    const held = this.#held(mailbox);
    const { units } = desiredStateOf(mailbox.spec?.objects ?? [], { uploadsDir: this.#options.uploadsDir });
    const { runtime, log } = this.#options;
    const actual = new Map((await runtime.list()).map((unit) => [unit.id, unit]));
    const plans = this.#planCron(units, actual);
    // The guard admits, in Mailbox order, what may run: the units not held and, in a cron object's
    // place, its runs (active ones count and may be evicted; due ones are admitted or not). Cron
    // objects never run themselves.
    const candidates: DesiredUnit[] = [];
    const runIds = new Set<string>();
    for (const unit of units) {
      const plan = unit.cron ? plans.get(unit.id) : undefined;
      if (plan) {
        for (const run of [...plan.active, ...plan.start]) {
          candidates.push(run);
          runIds.add(run.id);
        }
      } else if (!unit.cron && !held.has(identity(unit.ref))) candidates.push(unit);
    }
    const refused = new Map(this.#options.admit?.(candidates, actual) ?? []);
    this.#waitForWindows(candidates, actual, refused);
    await this.#prefetchWaiting(candidates, refused);
    const wanted = new Set(
      candidates
        .filter((unit) => {
          const refusal = refused.get(unit.id);
          return !refusal || (refusal.phase === 'Pending' && actual.has(unit.id));
        })
        .map((unit) => unit.id),
    );
    // A run the guard refuses ends Failed with its reason (as kubelet fails a Pod it rejects), so
    // it neither waits nor blocks Forbid; an evicted one is removed below. Finished runs stay.
    for (const plan of plans.values()) for (const id of plan.keep) if (!refused.has(id)) wanted.add(id);
    for (const id of runIds) {
      const refusal = refused.get(id);
      if (refusal) this.#options.cron?.refused(id, refusal);
    }
    await this.#options.cron?.save();
    const work: Promise<void>[] = [];
    for (const unit of units) {
      if (!wanted.has(unit.id) || refused.has(unit.id)) continue;
      const running = actual.get(unit.id);
      if (running?.hash === unit.hash) {
        this.#failures.delete(unit.id);
        continue;
      }
      const failure = this.#failures.get(unit.id);
      if (failure && failure.retryAt > monotonicMs()) continue;
      log.info(
        { unit: unit.id, hash: unit.hash, replace: running !== undefined },
        running ? 'replacing unit' : 'starting unit',
      );
      work.push(
        this.#attempt(unit.id, async () => {
          // Reported as ApplyFailed with the reason, as any content this agent cannot apply.
          const unrunnable = unrunnableReason(unit.object);
          if (unrunnable) throw new Error(`not run: ${unrunnable}`);
          await runtime.apply(unit);
        }),
      );
    }
    for (const id of actual.keys()) {
      if (wanted.has(id)) continue;
      log.info(
        { unit: id, held: units.some((unit) => unit.id === id), reason: refused.get(id)?.reason },
        'removing unit',
      );
      work.push(this.#attempt(id, () => runtime.remove(id)));
    }
    await Promise.all(work);
    // Cron runs after the removals: a run Replace stopped is gone before its successor starts.
    const runs = [...plans.values()].flatMap((plan) => plan.start).filter((run) => !refused.has(run.id));
    await Promise.all(
      runs.map((run) => {
        const failure = this.#failures.get(run.id);
        if (failure && failure.retryAt > monotonicMs()) return undefined;
        log.info({ unit: run.id, hash: run.hash }, 'starting cron run');
        return this.#attempt(run.id, async () => {
          try {
            const unrunnable = unrunnableReason(run.object);
            if (unrunnable) throw new Error(`not run: ${unrunnable}`);
            await runtime.apply(run);
          } catch (error) {
            this.#options.cron?.startFailed(run.id, error as Error);
            throw error;
          }
          this.#options.cron?.applied(run.id);
        });
      }),
    );
    if (runs.length > 0) await this.#options.cron?.save();
    const changed = work.length > 0 || runs.length > 0;
    const after = changed ? new Map((await runtime.list()).map((unit) => [unit.id, unit])) : actual;
    await this.#report(mailbox, units, after, held, plans, refused);
  }

  /**
   * The runs of every cron object (the pass saves their state before any
   * is started). Without a {@link CronRuns}, none.
   */
  #planCron(units: readonly DesiredUnit[], actual: ReadonlyMap<string, ActualUnit>): Map<string, CronPlan> {
    const plans = new Map<string, CronPlan>();
    const cron = this.#options.cron;
    if (!cron) return plans;
    cron.beginPass();
    for (const unit of units) {
      if (!unit.cron) continue;
      cron.register(unit);
      plans.set(unit.id, cron.plan(unit, unit.cron, actual));
    }
    cron.retain(new Set(plans.keys()));
    return plans;
  }

  /**
   * Refuses (Pending, the running version kept) the replacement of each
   * running unit whose new content carries an update window that is closed
   * now, and notes when the first such window opens. A unit not running yet
   * starts at once: the window guards what runs, not what is new.
   */
  #waitForWindows(
    candidates: readonly DesiredUnit[],
    actual: ReadonlyMap<string, ActualUnit>,
    refused: Map<string, Refusal>,
  ): void {
    this.#windowOpensAt = undefined;
    const now = this.#now();
    for (const unit of candidates) {
      if (!unit.updateWindow || refused.has(unit.id)) continue;
      const running = actual.get(unit.id);
      if (!running || running.hash === unit.hash) continue;
      const window = updateWindowState(unit.updateWindow, now);
      if (window.open) continue;
      refused.set(unit.id, {
        phase: 'Pending',
        reason: 'WaitingForUpdateWindow',
        message: window.opensAt
          ? `the update window opens at ${window.opensAt.toISOString()}`
          : 'the update window never opens',
      });
      const opensAt = window.opensAt?.getTime() ?? Number.POSITIVE_INFINITY;
      this.#windowOpensAt = Math.min(this.#windowOpensAt ?? opensAt, opensAt);
    }
  }

  /**
   * Fetches, while a replacement waits for its update window, what the new
   * version needs (the runtime's prefetch: podman images into the unit's
   * store), so that it starts at once when the window opens; the waiting
   * status says whether it is all on the device. Once per new content, and
   * again every {@link PREFETCH_RETRY_MS} while something is missing.
   */
  async #prefetchWaiting(candidates: readonly DesiredUnit[], refused: Map<string, Refusal>): Promise<void> {
    const { runtime, log } = this.#options;
    if (!runtime.prefetch) return;
    const waiting = new Set<string>();
    for (const unit of candidates) {
      const refusal = refused.get(unit.id);
      if (refusal?.reason !== 'WaitingForUpdateWindow') continue;
      waiting.add(unit.id);
      let done = this.#prefetched.get(unit.id);
      if (!done || done.hash !== unit.hash || (done.missing.length > 0 && monotonicMs() >= done.retryAt)) {
        try {
          const missing = await runtime.prefetch(unit);
          done = { hash: unit.hash, missing, retryAt: monotonicMs() + PREFETCH_RETRY_MS };
          log.info(
            { unit: unit.id, hash: unit.hash, missing },
            'prefetched a unit waiting for its update window',
          );
        } catch (error) {
          log.warn({ unit: unit.id, err: error }, 'prefetch failed');
          done = {
            hash: unit.hash,
            missing: ['(prefetch failed)'],
            retryAt: monotonicMs() + PREFETCH_RETRY_MS,
          };
        }
        this.#prefetched.set(unit.id, done);
      }
      const fetched =
        done.missing.length === 0
          ? 'its images are on the device'
          : `image ${done.missing.join(', ')} not on the device yet`;
      refused.set(unit.id, { ...refusal, message: `${refusal.message}; ${fetched}` });
    }
    for (const id of this.#prefetched.keys()) if (!waiting.has(id)) this.#prefetched.delete(id);
  }

  #now(): Date {
    return (this.#options.now ?? (() => new Date()))();
  }

  /** The objects held back now, by identity. */
  #held(mailbox: Mailbox): Map<string, { reason: string; message: string }> {
    const held = new Map<string, { reason: string; message: string }>();
    const hold = this.#options.hold;
    if (!hold) return held;
    for (const entry of mailbox.spec?.objects ?? []) {
      const why = hold(entry);
      if (why) held.set(identity(refOf(entry)), why);
    }
    return held;
  }

  async #attempt(id: string, operation: () => Promise<void>): Promise<void> {
    try {
      await operation();
      this.#failures.delete(id);
    } catch (error) {
      const failure = this.#failures.get(id) ?? {
        backoff: new Backoff({ initialMs: 1000, maxMs: 300_000 }),
        retryAt: 0,
        message: '',
      };
      failure.retryAt = monotonicMs() + failure.backoff.next();
      failure.message = (error as Error).message;
      this.#failures.set(id, failure);
      this.#options.log.warn({ unit: id, err: error }, 'unit operation failed: retrying with backoff');
    }
  }

  async #report(
    mailbox: Mailbox,
    units: DesiredUnit[],
    actual: Map<string, ActualUnit>,
    held: ReadonlyMap<string, { reason: string; message: string }>,
    plans: ReadonlyMap<string, CronPlan>,
    refused: ReadonlyMap<string, Refusal>,
  ): Promise<void> {
    const byRef = new Map(units.map((unit) => [identity(unit.ref), unit]));
    const previous = new Map((this.#reported?.objects ?? []).map((status) => [identity(status.ref), status]));
    const now = (this.#options.now ?? (() => new Date()))().toISOString();
    const objects: ObjectStatus[] = (mailbox.spec?.objects ?? []).map((entry) => {
      const ref = refOf(entry);
      const unit = byRef.get(identity(ref));
      let status: Omit<ObjectStatus, 'lastTransitionTime'>;
      const hold = held.get(identity(ref));
      const plan = unit?.cron ? plans.get(unit.id) : undefined;
      if (unit?.cron) {
        // A schedule: its runs are reported inside it; the object itself never runs.
        status = plan
          ? { ref, observedHash: entry.hash, ...plan.status }
          : { ref, observedHash: entry.hash, phase: 'Failed', ready: false, reason: 'CronNotSupported' };
      } else if (unit && hold) {
        // Held as asked: this content is what the agent acts on (observed), and it waits.
        status = { ref, observedHash: entry.hash, phase: 'Pending', ready: false, ...hold };
      } else if (unit && refused.has(unit.id)) {
        const { phase, reason, message } = refused.get(unit.id)!;
        status = { ref, observedHash: entry.hash, phase, ready: false, reason, message };
      } else if (!unit) {
        status = { ref, observedHash: entry.hash, phase: 'Running', ready: true };
      } else {
        const running = actual.get(unit.id);
        const failure = this.#failures.get(unit.id);
        if (running && running.hash === unit.hash)
          status = { ref, observedHash: entry.hash, ...running.status };
        else if (failure)
          // The hash it could not apply: the hub counts the failure against this content, at once.
          status = {
            ref,
            observedHash: entry.hash,
            phase: 'Pending',
            ready: false,
            reason: 'ApplyFailed',
            message: failure.message.slice(0, 500),
          };
        else status = { ref, phase: 'Pending', ready: false, reason: 'Applying' };
      }
      const before = previous.get(identity(ref));
      const since =
        before && before.phase === status.phase && before.lastTransitionTime
          ? before.lastTransitionTime
          : now;
      return { ...status, lastTransitionTime: since };
    });
    this.#statuses = objects.map((status, i) => ({ source: mailbox.spec!.objects![i]!.source, status }));
    const generation = mailbox.metadata?.generation;
    const next: MailboxStatus = {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      objects,
    };
    if (sameStatus(next, this.#reported)) return;
    const transition =
      isTransition(this.#reported?.objects ?? [], objects) ||
      next.observedGeneration !== this.#reported?.observedGeneration;
    this.#reported = next;
    await this.#options.onStatus(next, transition);
  }
}

function identity(ref: { kind: string; namespace?: string; name: string }): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** Whether any object's phase, readiness, reason or observed hash differs (or the set of objects does). */
function isTransition(before: readonly ObjectStatus[], after: readonly ObjectStatus[]): boolean {
  if (before.length !== after.length) return true;
  const key = (s: ObjectStatus) =>
    `${identity(s.ref)}|${s.phase}|${s.ready}|${s.reason ?? ''}|${s.observedHash ?? ''}`;
  const old = new Set(before.map(key));
  return after.some((status) => !old.has(key(status)));
}

/**
 * Equal Mailbox statuses: equal as JSON whatever the order of keys (the hub
 * may send them back in another order); no status at all is an empty one.
 */
export function sameStatus(a: unknown, b: unknown): boolean {
  return equalAsJson(a ?? {}, b ?? {});
}
