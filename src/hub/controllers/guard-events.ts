/**
 * Events about the agents' resource guard, from what they report: an object
 * whose Mailbox status turns to `InsufficientMemory` or `InsufficientDisk`
 * (the device refused to start it: its requests would cut into the device's
 * reserves), `Evicted` (stopped under memory or disk pressure) or
 * `OOMKilled` (killed by its own memory limit) is a Warning Event on the
 * Workload it comes from, naming the device and the object, with the
 * agent's message. So is a cron object's run that ends so (a run is not an
 * object of the Mailbox: it is reported in the object's `status.cron.runs`).
 * Once per change, when the report arrives (as profile-events.ts does for
 * Devices).
 */
import type { CronRunStatus, KubeObject, ObjectStatus } from '../../api/index.ts';
import type { Manager } from '../../controller/index.ts';
import type { EventSink } from '../events/index.ts';
import { objectWords, onReportedObjects, workloadOf } from './mailbox-objects.ts';

/** The reasons told as Events, with the action each stands for. */
export const GUARD_REASONS: Readonly<Record<string, string>> = {
  InsufficientMemory: 'Admit',
  InsufficientDisk: 'Admit',
  Evicted: 'Evict',
  OOMKilled: 'Kill',
};

/** Adds the handler to the manager's Mailbox informer (changes seen while running; a resync is none). */
export function addGuardEvents(manager: Manager, events: EventSink): void {
  onReportedObjects(manager, (mailbox, status, was) => {
    const reason = status.reason;
    if (
      reason !== undefined &&
      reason in GUARD_REASONS &&
      !(was?.reason === reason && was.observedHash === status.observedHash)
    )
      record(events, mailbox, status, objectWords(status.ref), reason, status.message);
    for (const run of newGuardRuns(was, status))
      record(
        events,
        mailbox,
        status,
        `${objectWords(status.ref)} run ${run.run}`,
        run.reason!,
        run.message ?? (run.exitCode !== undefined ? `exit code ${run.exitCode}` : undefined),
      );
  });
}

/** The runs of a cron object that ended for a guard reason since the last report. */
function newGuardRuns(was: ObjectStatus | undefined, status: ObjectStatus): CronRunStatus[] {
  const runs = status.cron?.runs ?? [];
  const told = new Map((was?.cron?.runs ?? []).map((run) => [run.run, run.reason]));
  return runs.filter(
    (run) => run.reason !== undefined && run.reason in GUARD_REASONS && told.get(run.run) !== run.reason,
  );
}

function record(
  events: EventSink,
  mailbox: KubeObject,
  status: ObjectStatus,
  what: string,
  reason: string,
  message: string | undefined,
): void {
  events.record(
    workloadOf(mailbox, status.ref),
    'Warning',
    reason,
    `device ${mailbox.metadata.name}: ${what}: ${message ?? reason}`,
    GUARD_REASONS[reason],
  );
}
