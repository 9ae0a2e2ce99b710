/**
 * The device side of the control loop: the Mailbox split into units to run
 * and data objects (desired.ts), and the level-triggered `UnitReconciler`
 * that makes the runtime run those units and computes the per-object status
 * (unit-reconciler.ts), with the runs of cron objects (cron-runs.ts). Not the hub's controller runtime (src/controller):
 * this one is keyed by unit and speaks to a `Runtime`.
 */
export { type CronPlan, CronRuns, type CronRunsOptions, type PickedRun } from './cron-runs.ts';
export { type DesiredState, desiredStateOf, ROOTLESS_ANNOTATION, refOf } from './desired.ts';
export {
  type MailboxStatus,
  type SourcedStatus,
  sameStatus,
  UnitReconciler,
  type UnitReconcilerOptions,
} from './unit-reconciler.ts';
