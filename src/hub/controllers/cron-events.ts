/**
 * Events about cron Workloads, from what the agents report: each scheduled
 * time a device did not run as scheduled (`status.cron.warnings` of a cron
 * object in its Mailbox) is an Event on the Workload, with the reasons and
 * types Kubernetes' CronJob controller uses: `MissSchedule` (Warning: past
 * startingDeadlineSeconds), `TooManyMissedTimes` (Warning: more than 100
 * missed, the clock or a long downtime), `JobAlreadyActive` (Normal:
 * concurrencyPolicy Forbid with a run active). The agent decides on the
 * device, offline too, and keeps its last five; the hub tells each new one
 * once, when the report arrives (so a device offline meanwhile reports at
 * most its last five).
 */
import type { CronWarning } from '../../api/index.ts';
import type { Manager } from '../../controller/index.ts';
import type { EventSink, EventType } from '../events/index.ts';
import { objectWords, onReportedObjects, workloadOf } from './mailbox-objects.ts';

/** Each warning's Event type, as CronJob's controller records it. */
export const CRON_WARNING_TYPES: Readonly<Record<CronWarning['reason'], EventType>> = {
  MissSchedule: 'Warning',
  TooManyMissedTimes: 'Warning',
  JobAlreadyActive: 'Normal',
};

/** Adds the handler to the manager's Mailbox informer (changes seen while running; a resync is none). */
export function addCronEvents(manager: Manager, events: EventSink): void {
  onReportedObjects(manager, (mailbox, status, was) => {
    const warnings = status.cron?.warnings;
    if (!warnings?.length) return;
    const told = new Set((was?.cron?.warnings ?? []).map((w) => `${w.time}|${w.reason}`));
    for (const warning of warnings) {
      if (told.has(`${warning.time}|${warning.reason}`)) continue;
      events.record(
        workloadOf(mailbox, status.ref),
        CRON_WARNING_TYPES[warning.reason] ?? 'Warning',
        warning.reason,
        `device ${mailbox.metadata.name}: ${objectWords(status.ref)}: ${warning.message}`,
        'Schedule',
      );
    }
  });
}
