import { Cron } from 'croner';
import type { FieldCause } from '../kind.ts';

/**
 * A Workload's `spec.cron` (issue 15): its Pods run to completion on a
 * schedule, with Kubernetes CronJob's fields and semantics. Patterns are
 * croner's (5 fields, or 6 with seconds first; `@hourly`-style names),
 * never our own parser. The hub checks them when the Workload is written
 * (a 422 naming the field); the agent evaluates them on the device.
 */

/** What `spec.cron` holds, as written. */
export interface CronSpec {
  /** `*\/5 * * * *`, `0 30 2 * * *` (seconds first), `@hourly`, `@daily`, ... */
  readonly schedule: string;
  /** IANA time zone the schedule is read in. @default the device's local time zone */
  readonly timeZone?: string;
  /** @default 'Allow' */
  readonly concurrencyPolicy?: CronConcurrencyPolicy;
  /** A run later than this after its scheduled time is not started. @default no deadline */
  readonly startingDeadlineSeconds?: number;
  /** Finished successful runs kept (with their output). @default 3 */
  readonly successfulJobsHistoryLimit?: number;
  /** Finished failed runs kept (with their output). @default 1 */
  readonly failedJobsHistoryLimit?: number;
  /** No new runs while true (active ones go on). @default false */
  readonly suspend?: boolean;
}

export type CronConcurrencyPolicy = 'Allow' | 'Forbid' | 'Replace';

/** `spec.cron` with every default applied: what the Mailbox carries to the agent. */
export interface CronPolicy {
  readonly schedule: string;
  readonly timeZone?: string;
  readonly concurrencyPolicy: CronConcurrencyPolicy;
  readonly startingDeadlineSeconds?: number;
  readonly successfulJobsHistoryLimit: number;
  readonly failedJobsHistoryLimit: number;
  readonly suspend: boolean;
}

/** Missed schedules beyond which Kubernetes warns (TooManyMissedTimes); still at most one run starts. */
export const MAX_MISSED_SCHEDULES = 100;

/** The longest schedule text. */
export const MAX_SCHEDULE_LENGTH = 256;

/** The defaults of {@link CronSpec}, applied in this one place. */
export function cronPolicy(spec: CronSpec): CronPolicy {
  return {
    schedule: spec.schedule,
    ...(spec.timeZone !== undefined ? { timeZone: spec.timeZone } : {}),
    concurrencyPolicy: spec.concurrencyPolicy ?? 'Allow',
    ...(spec.startingDeadlineSeconds !== undefined
      ? { startingDeadlineSeconds: spec.startingDeadlineSeconds }
      : {}),
    successfulJobsHistoryLimit: spec.successfulJobsHistoryLimit ?? 3,
    failedJobsHistoryLimit: spec.failedJobsHistoryLimit ?? 1,
    suspend: spec.suspend ?? false,
  };
}

/** A parsed schedule: croner's pattern in its time zone, never started (we keep our own timers). */
export class CronSchedule {
  readonly #cron: Cron;

  /** Throws a `TypeError` naming the problem for a bad pattern or time zone. */
  constructor(schedule: string, timeZone?: string) {
    if (timeZone !== undefined) checkTimeZone(timeZone);
    this.#cron = new Cron(schedule.trim(), {
      paused: true,
      mode: '5-or-6-parts',
      ...(timeZone !== undefined ? { timezone: timeZone } : {}),
    });
  }

  /** The first scheduled time strictly after `after`, or undefined when there is none. */
  next(after: Date): Date | undefined {
    return this.#cron.nextRun(after) ?? undefined;
  }

  /** The last scheduled time at or before `at`, or undefined when there is none. */
  previous(at: Date): Date | undefined {
    // croner's previousRuns excludes the reference itself: ask from just after it.
    return this.#cron.previousRuns(1, new Date(at.getTime() + 1))[0];
  }
}

/** What is due now for a schedule, by Kubernetes CronJob's rules. */
export interface DueSchedule {
  /** The most recent scheduled time after `since` and at or before `now` (the one to run), if any. */
  readonly mostRecent?: Date;
  /** How many scheduled times fell after `since` up to `now` (counted up to {@link MAX_MISSED_SCHEDULES} + 1). */
  readonly missed: number;
  /** The first scheduled time after `now`. */
  readonly next?: Date;
}

/**
 * The scheduled times between `since` (exclusive) and `now` (inclusive), as
 * CronJob's controller sees them: only the most recent counts (at most one
 * run starts, however many were missed); with a starting deadline, times
 * older than `now - deadline` are not considered at all.
 */
export function dueSchedule(
  schedule: CronSchedule,
  since: Date,
  now: Date,
  startingDeadlineSeconds?: number,
): DueSchedule {
  let earliest = since;
  if (startingDeadlineSeconds !== undefined) {
    const window = new Date(now.getTime() - startingDeadlineSeconds * 1000);
    if (window > earliest) earliest = window;
  }
  const next = schedule.next(now);
  const recent = schedule.previous(now);
  if (!recent || recent <= earliest) return { missed: 0, ...(next ? { next } : {}) };
  let missed = 0;
  for (let t = schedule.next(earliest); t && t <= now && missed <= MAX_MISSED_SCHEDULES; t = schedule.next(t))
    missed++;
  return { mostRecent: recent, missed, ...(next ? { next } : {}) };
}

/** Checks `spec.cron` beyond its schema: the schedule parses and ever fires, the time zone exists. */
export function validateCron(cron: CronSpec, path: string): FieldCause[] {
  const causes: FieldCause[] = [];
  let zoneOk = true;
  if (cron.timeZone !== undefined) {
    try {
      checkTimeZone(cron.timeZone);
    } catch (error) {
      zoneOk = false;
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${path}.timeZone`,
        message: `Invalid value: ${JSON.stringify(cron.timeZone)}: ${(error as Error).message}`,
      });
    }
  }
  try {
    const schedule = new CronSchedule(cron.schedule, zoneOk ? cron.timeZone : undefined);
    if (!schedule.next(new Date()))
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${path}.schedule`,
        message: `Invalid value: ${JSON.stringify(cron.schedule)}: never matches a date`,
      });
  } catch (error) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${path}.schedule`,
      message: `Invalid value: ${JSON.stringify(cron.schedule)}: ${(error as Error).message.replace(/^CronPattern: /, '')}`,
    });
  }
  return causes;
}

/** Throws a TypeError unless `zone` is an IANA time zone this runtime knows. */
function checkTimeZone(zone: string): void {
  // An empty or offset-like text would be taken by Intl in some versions: only names.
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone)) throw new TypeError('not an IANA time zone name');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new TypeError('unknown time zone (an IANA name such as Europe/Berlin or UTC)');
  }
}
