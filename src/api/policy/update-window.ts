import type { FieldCause } from '../kind.ts';
import { CronSchedule, validateCron } from './cron.ts';
import { parseDuration } from './duration.ts';

/**
 * An update window (issue 19): when a device may replace what it runs with
 * a new rollout revision. Each window opens at a time of its cron schedule
 * (croner's patterns, as `spec.cron`) and stays open for its duration. The
 * agent enforces it on its own clock (it keeps working offline); the hub
 * only reads it to start a waiting device's progress deadline when its
 * window opens.
 */
export interface UpdateWindowSpec {
  readonly schedule: string;
  /** `2h`, `30m`, `1h30m`. */
  readonly duration: string;
  /** IANA time zone the schedule is read in. @default the device's local time zone */
  readonly timeZone?: string;
}

/** Whether a window is open at a time, and when it opened or opens next. */
export interface WindowState {
  readonly open: boolean;
  /** The opening of the window open now, or of the last one. */
  readonly openedAt?: Date;
  /** When closed: the next opening (undefined when there is none). */
  readonly opensAt?: Date;
}

/** Parsed schedules by pattern and zone: the hub reads windows on every pass over a waiting device. */
const schedules = new Map<string, CronSchedule>();
const MAX_CACHED = 256;

function scheduleOf(window: UpdateWindowSpec): CronSchedule {
  const key = `${window.timeZone ?? ''}|${window.schedule}`;
  let schedule = schedules.get(key);
  if (!schedule) {
    if (schedules.size >= MAX_CACHED) schedules.clear();
    schedule = new CronSchedule(window.schedule, window.timeZone);
    schedules.set(key, schedule);
  }
  return schedule;
}

/**
 * The window's state at `now`: open when the last opening at or before `now`
 * is less than its duration ago. A window that does not parse (written
 * before a check existed) is never open: nothing is replaced on its account.
 */
export function updateWindowState(window: UpdateWindowSpec, now: Date): WindowState {
  let schedule: CronSchedule;
  try {
    schedule = scheduleOf(window);
  } catch {
    return { open: false };
  }
  const duration = parseDuration(window.duration) ?? 0;
  const openedAt = schedule.previous(now);
  if (openedAt && now.getTime() < openedAt.getTime() + duration) return { open: true, openedAt };
  const opensAt = schedule.next(now);
  return { open: false, ...(openedAt ? { openedAt } : {}), ...(opensAt ? { opensAt } : {}) };
}

/** Checks an update window beyond its schema: the schedule parses and ever opens, the zone and duration. */
export function validateUpdateWindow(window: UpdateWindowSpec, path: string): FieldCause[] {
  const causes = validateCron(
    { schedule: window.schedule, ...(window.timeZone !== undefined ? { timeZone: window.timeZone } : {}) },
    path,
  );
  const duration = parseDuration(window.duration);
  if (!duration)
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${path}.duration`,
      message: `Invalid value: ${JSON.stringify(window.duration)}: a duration above zero such as 30m or 2h`,
    });
  return causes;
}
