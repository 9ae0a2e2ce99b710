import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import {
  type CronPolicy,
  CronSchedule,
  type CronWarning,
  dueSchedule,
  MAX_MISSED_SCHEDULES,
  type ObjectStatus,
} from '../../api/index.ts';
import { writeFileAtomic } from '../../util/index.ts';
import { type ActualUnit, type DesiredUnit, unitIdOf } from '../runtime/index.ts';

/**
 * Cron objects on the device (a Workload's `spec.cron`, carried on its Pods
 * in the Mailbox): decides, on every reconcile pass, which runs exist. A
 * run is a unit of its own (id from the object and the run index), started
 * once with `restartPolicy: Never` unless the Pod says `OnFailure`, never
 * replaced, and removed (with its output) only by the history limits, by
 * `Replace`, or when the object leaves the Mailbox.
 *
 * The schedule follows Kubernetes CronJob's controller: the scheduled times
 * since the last one started (or since the object was first seen) are
 * looked at, and only the most recent starts, once, however many were
 * missed (device off, clock jumped forward); with `startingDeadlineSeconds`,
 * times older than that are not considered. `Forbid` leaves a due run
 * unstarted while another is active (it starts once that one finishes, if
 * still within the deadline), `Replace` stops the active runs first.
 *
 * One departure: when the clock goes back past the last scheduled time,
 * schedules count from the moment that is noticed, not from the last run
 * (a CronJob would run nothing until the clock is past that run again).
 *
 * State (`DIR/cron.json`): per object, when it was first seen, the last
 * scheduled and last successful times, the run counter and the runs kept.
 * It is written before a run is started, so a crash never starts a run
 * twice; a run recorded but never applied is applied on the next pass.
 *
 * The resource guard admits runs as it admits any unit: the reconciler
 * gives it each plan's `start` and `active` run units, and a run it refuses
 * (requests past the reserves, or evicted under pressure) ends `Failed`
 * with the guard's reason ({@link CronRuns.refused}), as kubelet fails a
 * Pod it rejects at admission; the next scheduled time tries again.
 *
 * Times not run as scheduled are kept (the last {@link MAX_WARNINGS}) as
 * `status.cron.warnings` with CronJob's reasons, which the hub tells as
 * Events on the Workload.
 */

/** Warnings kept per cron object (the hub turns each new one into an Event). */
const MAX_WARNINGS = 5;

/** One run as the agent keeps it. */
interface RunRecord {
  readonly run: number;
  readonly id: string;
  readonly scheduledTime: string;
  applied: boolean;
  startTime?: string;
  completionTime?: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  exitCode?: number;
  reason?: string;
  message?: string;
}

/** One cron object's state. */
interface CronState {
  readonly firstSeen: string;
  /**
   * Scheduled times after this count: the last one started, or when the
   * object was first seen, or — after the clock went back past it — when
   * that was noticed.
   */
  since: string;
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
  counter: number;
  runs: RunRecord[];
  /** The last warning logged (not repeated every pass). */
  warned?: string;
  /** The latest warnings, oldest first. */
  warnings?: CronWarning[];
}

/** What a pass does for one cron object. */
export interface CronPlan {
  /** Every run unit to keep (active and kept finished ones); other runs of the object are removed. */
  readonly keep: readonly string[];
  /** Runs to apply now (recorded, not yet applied). */
  readonly start: readonly DesiredUnit[];
  /**
   * Runs applied and not finished, as units (for the resource guard: what
   * they request counts, and they may be evicted). A run started before the
   * object changed keeps the hash it runs with.
   */
  readonly active: readonly DesiredUnit[];
  /** The object's status (without ref, observedHash and lastTransitionTime). */
  readonly status: Omit<ObjectStatus, 'ref' | 'observedHash' | 'lastTransitionTime'>;
}

/** A run picked for `outpost logs`. */
export interface PickedRun {
  readonly id: string;
  readonly run: number;
}

/** Options of {@link CronRuns}. */
export interface CronRunsOptions {
  /** The state file, e.g. `DATA_DIR/cron.json`. */
  readonly file: string;
  readonly log: Logger;
  /** Wall clock (the device's). @default () => new Date() */
  readonly now?: () => Date;
}

/** The device's cron objects and their runs; see the module comment. */
export class CronRuns {
  readonly #options: CronRunsOptions;
  #states = new Map<string, CronState>();
  /** Which Workload (`namespace/name`) each object belongs to, recorded by {@link register}. */
  readonly #owners = new Map<string, string>();
  readonly #schedules = new Map<string, { key: string; schedule: CronSchedule | Error }>();
  #dirty = false;
  #nextDue: number | undefined;

  private constructor(options: CronRunsOptions) {
    this.#options = options;
  }

  /** Loads the state file (none, or unreadable: nothing scheduled yet). */
  static async open(options: CronRunsOptions): Promise<CronRuns> {
    const runs = new CronRuns(options);
    try {
      const saved = JSON.parse(await readFile(options.file, 'utf8')) as Record<string, CronState>;
      runs.#states = new Map(Object.entries(saved));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        options.log.warn({ err: (error as Error).message }, 'cron state unreadable: starting afresh');
    }
    return runs;
  }

  /** Whether any cron object is known (the reconciler then wakes at least every second: clock jumps). */
  get active(): boolean {
    return this.#states.size > 0;
  }

  /** The earliest next scheduled time of the last pass (epoch ms, device clock). */
  get nextDue(): number | undefined {
    return this.#nextDue;
  }

  /** Starts a pass: the earliest next time is recomputed by the {@link plan} calls that follow. */
  beginPass(): void {
    this.#nextDue = undefined;
  }

  /**
   * The runs of cron object `unit` for this pass: finished runs recorded,
   * a due run created (by its concurrency policy), history trimmed.
   */
  plan(unit: DesiredUnit, cron: CronPolicy, actual: ReadonlyMap<string, ActualUnit>): CronPlan {
    const now = (this.#options.now ?? (() => new Date()))();
    let state = this.#states.get(unit.id);
    if (!state) {
      state = { firstSeen: now.toISOString(), since: now.toISOString(), counter: 0, runs: [] };
      this.#states.set(unit.id, state);
      this.#dirty = true;
    }
    this.#observe(state, actual, now);
    const schedule = this.#scheduleOf(unit.id, cron);
    if (schedule instanceof Error)
      return {
        keep: state.runs.map((r) => r.id),
        start: [],
        active: [],
        status: { phase: 'Failed', ready: false, reason: 'InvalidSchedule', message: schedule.message },
      };
    if (Date.parse(state.since) > now.getTime() + 1000) {
      // The clock went back (NTP correcting a clock that ran ahead): go on from now rather than
      // wait, as a CronJob would, until the clock is past the last run again.
      this.#options.log.warn({ unit: unit.id, since: state.since }, 'cron: the clock went back');
      state.since = now.toISOString();
      this.#dirty = true;
    }
    const since = new Date(state.since);
    const due = dueSchedule(schedule, since, now, cron.startingDeadlineSeconds);
    if (due.mostRecent && !cron.suspend) this.#startDue(unit, cron, state, due.mostRecent, due.missed);
    else if (cron.startingDeadlineSeconds !== undefined && !cron.suspend) {
      // A time past its deadline is not started (CronJob's MissSchedule): said once.
      const missed = schedule.previous(now);
      if (missed && missed > since)
        this.#warn(
          state,
          `deadline:${missed.toISOString()}`,
          unit,
          1,
          'MissSchedule',
          `missed scheduled time to start a run: ${missed.toISOString()} (more than startingDeadlineSeconds ${cron.startingDeadlineSeconds} ago)`,
        );
    }
    if (due.next && !cron.suspend)
      this.#nextDue = Math.min(this.#nextDue ?? Number.POSITIVE_INFINITY, due.next.getTime());
    this.#trim(state, cron);
    const start = state.runs.filter((r) => !r.applied && !r.completionTime).map((r) => runUnit(unit, r));
    const active = state.runs
      .filter((r) => r.applied && !r.completionTime && actual.has(r.id))
      .map((r) => ({ ...runUnit(unit, r), hash: actual.get(r.id)!.hash }));
    const next = due.next;
    return {
      keep: state.runs.map((r) => r.id),
      start,
      active,
      // Read when reported: a run the guard refuses after this plan shows as refused.
      get status() {
        return statusOf(state, cron, next);
      },
    };
  }

  /** A run was applied (its process started) or failed to; an applied run is never applied again. */
  applied(id: string): void {
    for (const state of this.#states.values())
      for (const run of state.runs)
        if (run.id === id && !run.applied) {
          run.applied = true;
          run.phase = 'Running';
          run.startTime = (this.#options.now ?? (() => new Date()))().toISOString();
          this.#dirty = true;
        }
  }

  /**
   * A run could not even be applied (the runtime could not try): it ends
   * Failed (`ApplyFailed`) rather than wait, so it neither blocks `Forbid`
   * nor piles up beside later runs; the history limits drop it like any.
   */
  startFailed(id: string, error: Error): void {
    const now = (this.#options.now ?? (() => new Date()))().toISOString();
    for (const state of this.#states.values())
      for (const run of state.runs)
        if (run.id === id && !run.applied && !run.completionTime) {
          Object.assign(run, { phase: 'Failed', reason: 'ApplyFailed', completionTime: now });
          this.#dirty = true;
          this.#options.log.warn({ unit: id, run: run.run, err: error.message }, 'cron run not started');
        }
  }

  /**
   * The resource guard refused run `id`: not started (requests past the
   * reserves) or evicted (stopped under pressure). It ends Failed with the
   * guard's reason and message; the reconciler removes its unit if it runs.
   */
  refused(id: string, refusal: { readonly reason: string; readonly message: string }): void {
    const now = (this.#options.now ?? (() => new Date()))().toISOString();
    for (const state of this.#states.values())
      for (const run of state.runs)
        if (run.id === id && !run.completionTime) {
          Object.assign(run, {
            phase: 'Failed',
            reason: refusal.reason,
            message: refusal.message.slice(0, 500),
            completionTime: now,
          });
          this.#dirty = true;
          this.#options.log.warn(
            { unit: id, run: run.run, reason: refusal.reason, started: run.applied },
            run.applied ? 'cron run evicted' : 'cron run refused by the resource guard',
          );
        }
  }

  /** Forgets objects that left the Mailbox (their runs are removed with them). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of [...this.#states.keys()])
      if (!ids.has(id)) {
        this.#states.delete(id);
        this.#schedules.delete(id);
        this.#dirty = true;
      }
  }

  /** Writes the state when it changed: before any run it records is started. */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    await writeFileAtomic(this.#options.file, JSON.stringify(Object.fromEntries(this.#states)), 0o600);
  }

  /**
   * The run of a cron object of `namespace`/`workload` that `outpost logs`
   * reads: run `run`, else the newest; undefined when the Workload has no
   * cron object here. Throws with a message when it has, but not that run.
   */
  pick(namespace: string, workload: string, run?: number): PickedRun | undefined {
    let found = false;
    let best: RunRecord | undefined;
    const kept: number[] = [];
    for (const [id, state] of this.#states) {
      if (!this.#belongs(id, namespace, workload)) continue;
      found = true;
      for (const r of state.runs) {
        if (!r.applied) continue;
        kept.push(r.run);
        if (run !== undefined ? r.run === run : !best || r.run > best.run) best = r;
      }
    }
    if (!found) return undefined;
    if (!best)
      throw new Error(
        run !== undefined
          ? `no run ${run} kept (kept: ${kept.sort((a, b) => a - b).join(', ') || 'none'})`
          : 'no run has started yet',
      );
    return { id: best.id, run: best.run };
  }

  /** Records the Workload of a cron object (for {@link pick}). */
  register(unit: DesiredUnit): void {
    this.#owners.set(unit.id, `${unit.source.namespace}/${unit.source.workload}`);
  }

  #belongs(id: string, namespace: string, workload: string): boolean {
    return this.#owners.get(id) === `${namespace}/${workload}`;
  }

  #scheduleOf(id: string, cron: CronPolicy): CronSchedule | Error {
    const key = `${cron.schedule}\u0000${cron.timeZone ?? ''}`;
    const cached = this.#schedules.get(id);
    if (cached?.key === key) return cached.schedule;
    let schedule: CronSchedule | Error;
    try {
      schedule = new CronSchedule(cron.schedule, cron.timeZone);
    } catch (error) {
      schedule = error as Error;
    }
    this.#schedules.set(id, { key, schedule });
    return schedule;
  }

  /** Records what the runtime says of unfinished runs. */
  #observe(state: CronState, actual: ReadonlyMap<string, ActualUnit>, now: Date): void {
    for (const run of state.runs) {
      if (run.completionTime || !run.applied) continue;
      const unit = actual.get(run.id);
      if (!unit) {
        // Applied, and gone: removed behind the agent's back, or lost with the runtime's state.
        Object.assign(run, { phase: 'Failed', reason: 'Lost', completionTime: now.toISOString() });
        this.#dirty = true;
        continue;
      }
      const { phase, exitCode, reason } = unit.status;
      if (phase === 'Succeeded' || phase === 'Failed') {
        Object.assign(run, {
          phase,
          completionTime: now.toISOString(),
          ...(exitCode !== undefined ? { exitCode } : {}),
          ...(reason !== undefined ? { reason } : {}),
        });
        if (phase === 'Succeeded') state.lastSuccessfulTime = run.completionTime;
        this.#dirty = true;
        this.#options.log.info({ unit: run.id, run: run.run, phase, exitCode }, 'cron run finished');
      }
    }
  }

  /** Starts the run due at `scheduled`, as the concurrency policy allows. */
  #startDue(unit: DesiredUnit, cron: CronPolicy, state: CronState, scheduled: Date, missed: number): void {
    const log = this.#options.log;
    const active = state.runs.filter((r) => !r.completionTime);
    const at = scheduled.toISOString();
    if (missed > MAX_MISSED_SCHEDULES)
      this.#warn(
        state,
        `too-many:${at}`,
        unit,
        missed,
        'TooManyMissedTimes',
        // Counting stops past the limit (dueSchedule): say "more than", not a number that is not one.
        `too many missed start times: more than ${MAX_MISSED_SCHEDULES}; set or decrease startingDeadlineSeconds or check the device's clock`,
      );
    if (active.length > 0 && cron.concurrencyPolicy === 'Forbid') {
      // As CronJob: not started, and lastScheduleTime stays, so it starts when the active one ends
      // (unless startingDeadlineSeconds has passed by then).
      this.#warn(
        state,
        `forbid:${at}`,
        unit,
        missed,
        'JobAlreadyActive',
        `not starting the run scheduled at ${at} because run ${active.map((r) => r.run).join(', ')} is active and concurrencyPolicy is Forbid`,
      );
      return;
    }
    if (active.length > 0 && cron.concurrencyPolicy === 'Replace') {
      log.info({ unit: unit.id, replaced: active.map((r) => r.run) }, 'cron runs replaced');
      state.runs = state.runs.filter((r) => r.completionTime);
    }
    state.counter += 1;
    const run: RunRecord = {
      run: state.counter,
      id: unitIdOf(unit.source, { ...unit.ref, name: `${unit.ref.name}-run-${state.counter}` }),
      scheduledTime: at,
      applied: false,
      phase: 'Pending',
    };
    state.runs.push(run);
    state.lastScheduleTime = at;
    state.since = at;
    this.#dirty = true;
    log.info({ unit: unit.id, run: run.run, scheduledTime: at, missed }, 'cron run due');
  }

  #warn(
    state: CronState,
    key: string,
    unit: DesiredUnit,
    missed: number,
    reason: CronWarning['reason'],
    message: string,
  ): void {
    if (state.warned === key) return;
    state.warned = key;
    const time = (this.#options.now ?? (() => new Date()))().toISOString();
    state.warnings = [...(state.warnings ?? []), { reason, message, time }].slice(-MAX_WARNINGS);
    this.#dirty = true;
    this.#options.log.warn({ unit: unit.id, missed, reason }, 'cron run not started as scheduled');
  }

  /** Keeps the newest finished runs within the history limits (active runs are never trimmed). */
  #trim(state: CronState, cron: CronPolicy): void {
    const drop = new Set<RunRecord>();
    for (const [phase, limit] of [
      ['Succeeded', cron.successfulJobsHistoryLimit],
      ['Failed', cron.failedJobsHistoryLimit],
    ] as const) {
      const finished = state.runs.filter((r) => r.completionTime && r.phase === phase);
      for (const r of finished.slice(0, Math.max(0, finished.length - limit))) drop.add(r);
    }
    if (drop.size === 0) return;
    state.runs = state.runs.filter((r) => !drop.has(r));
    this.#dirty = true;
  }
}

/** The unit of one run: the object's Pod, restarting only as Jobs do. */
function runUnit(unit: DesiredUnit, run: RunRecord): DesiredUnit {
  const object = structuredClone(unit.object) as DesiredUnit['object'] & {
    spec?: { restartPolicy?: string };
  };
  const spec = (object.spec ?? {}) as { restartPolicy?: string };
  if (spec.restartPolicy !== 'OnFailure') spec.restartPolicy = 'Never';
  object.spec = spec;
  return { ...unit, id: run.id, object, hash: `${unit.hash}:run-${run.run}` };
}

/** How a finished run ended, for the status message: its exit code, else its reason. */
function outcomeOf(run: RunRecord): string {
  if (run.exitCode !== undefined) return ` (exit code ${run.exitCode})`;
  return run.reason ? ` (${run.reason})` : '';
}

function statusOf(state: CronState, cron: CronPolicy, next: Date | undefined): CronPlan['status'] {
  const active = state.runs.filter((r) => !r.completionTime);
  const last = [...state.runs].reverse().find((r) => r.completionTime);
  const nextText = next && !cron.suspend ? next.toISOString() : undefined;
  const message = [
    cron.suspend ? 'suspended' : nextText ? `next run ${nextText}` : 'no further run',
    ...(active.length ? [`${active.length} active`] : []),
    ...(last ? [`last run ${last.run} ${last.phase}${outcomeOf(last)}`] : []),
  ].join('; ');
  return {
    phase: 'Running',
    ready: true,
    reason: active.length > 0 ? 'RunActive' : 'Scheduled',
    message,
    ...(last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
    cron: {
      ...(state.lastScheduleTime ? { lastScheduleTime: state.lastScheduleTime } : {}),
      ...(state.lastSuccessfulTime ? { lastSuccessfulTime: state.lastSuccessfulTime } : {}),
      ...(nextText ? { nextScheduleTime: nextText } : {}),
      active: active.length,
      runs: state.runs.map((r) => ({
        run: r.run,
        scheduledTime: r.scheduledTime,
        ...(r.startTime ? { startTime: r.startTime } : {}),
        ...(r.completionTime ? { completionTime: r.completionTime } : {}),
        phase: r.phase,
        ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        ...(r.reason ? { reason: r.reason } : {}),
        ...(r.message ? { message: r.message } : {}),
      })),
      ...(state.warnings?.length ? { warnings: state.warnings } : {}),
    },
  };
}
