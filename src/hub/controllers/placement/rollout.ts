import { isDeepStrictEqual } from 'node:util';
import {
  APPROVE_ANNOTATION,
  type Device,
  type KubeObject,
  type Mailbox,
  type Placement,
  type PlacementRevision,
  type RolloutSpec,
  type RolloutStatus,
  UPDATE_WINDOW_LABEL,
} from '../../../api/index.ts';
import { type Client, type Reconciler, splitKey } from '../../../controller/index.ts';
import { type EventSink, NO_EVENTS } from '../../events/index.ts';
import { kindOf, timestamp } from '../support.ts';
import type { DeviceBounds } from './boundaries.ts';
import { batchPlanOf, NAMESPACE_INDEX, type PlacementInformers } from './mailbox.ts';
import { admitWithinBudget, type BudgetDeviceState, everyDeviceAdmitted } from './rollout-budget.ts';
import { revisionOfDevice, rolloutSpecOf, rolloutStatusOf, snapshotOf } from './rollout-plan.ts';
import { selectsWorkload } from './selection.ts';
import type { PlacementCaches } from './state.ts';
import { combineStates, evaluateWorkload, MAX_BROKEN, MAX_REASONS } from './status.ts';

export interface RolloutReconcilerOptions {
  readonly service: Client;
  readonly informers: PlacementInformers;
  readonly caches: PlacementCaches;
  readonly bounds: DeviceBounds;
  /** Wall-clock time (revision and batch timestamps, progress deadlines). */
  readonly now: () => Date;
  /** How often a rollout in progress is looked at again without an event. @default 2000 */
  readonly recheckMs?: number;
  readonly events?: EventSink;
}

/** The field manager of the rollout controller's status writes. */
export const ROLLOUT_FIELD_MANAGER = 'outpost-rollout';

const DEFAULT_SUCCESS = 100;
const DEFAULT_ERROR = 20;
const DEFAULT_DEADLINE_S = 600;
const DEFAULT_HISTORY = 10;
const MAX_UNKNOWN_WINDOWS = 10;
/** Devices carrying the update-window label (a constant object: the label index memoises by selector). */
const WINDOW_LABELLED = { matchExpressions: [{ key: UPDATE_WINDOW_LABEL, operator: 'Exists' as const }] };

/** How one batch stands. */
interface BatchCount {
  devices: number;
  updated: number;
  failed: number;
  unreachable: number;
  waiting?: number;
}

/**
 * The rollout reconciler, keyed by Placement (`namespace/name`), for
 * Placements with `spec.rollout`. It records each change of the placed
 * Workloads as a numbered revision in `status.rollout.revisions` (bounded),
 * and moves `releasedBatches` forward one batch at a time: batch n+1 is
 * released only once batch n succeeded (successThreshold percent of its
 * reachable devices run the update revision, ready, as their agents report
 * it), unless paused or waiting for a manual approval. When errorThreshold
 * percent of the reachable devices given the update revision fail, the
 * rollout stops and every device gets the current revision back
 * (`updateRevision` := `currentRevision`), with the failure in status.
 *
 * The mailbox reconciler reads only this status to choose the revision each
 * device's Mailbox holds; devices offline get it when they come back.
 * Level-triggered: everything is derived from the caches on each pass, and
 * nothing is written when the status would not change.
 */
export function createRolloutReconciler(options: RolloutReconcilerOptions): Reconciler {
  const { service, informers, caches, bounds } = options;
  const placementKind = kindOf(service, 'Placement');
  const events = options.events ?? NO_EVENTS;
  const recheckMs = options.recheckMs ?? 2000;
  /**
   * Mailboxes (cached objects, replaced on every write) seen running the
   * update revision of a Placement, ready: the outcome needs no clock (no
   * deadline applies to a running device), so each pass over a batch of
   * 1,000 evaluates only the devices whose reports changed since.
   */
  const seenUpdated = new WeakMap<Mailbox, string>();

  const selectedWorkloads = (placement: KubeObject): KubeObject[] =>
    informers.workloads.byIndex(NAMESPACE_INDEX, placement.metadata.namespace!).filter(
      (workload) =>
        !workload.metadata.deletionTimestamp &&
        selectsWorkload((placement.spec as Placement['spec']).workloadSelector, {
          name: workload.metadata.name!,
          labels: workload.metadata.labels,
        }),
    );

  return {
    name: 'rollout',
    async reconcile(key) {
      const { namespace, name } = splitKey(key);
      const placement = informers.placements.get(namespace, name);
      if (!placement || placement.metadata.deletionTimestamp) return;
      const spec = rolloutSpecOf(placement);
      const previous = rolloutStatusOf(placement);
      if (!spec) return;
      const now = options.now();
      const told: Array<[type: 'Normal' | 'Warning', reason: string, message: string]> = [];
      const snapshot = snapshotOf(selectedWorkloads(placement));
      let next: RolloutStatus;
      if (!previous) {
        // The first revision is what the devices run already (or get at once): nothing to roll out.
        next = {
          phase: 'Complete',
          currentRevision: 1,
          updateRevision: 1,
          releasedBatches: 0,
          revisions: [{ revision: 1, created: timestamp(now), ...snapshot }],
        };
        told.push(['Normal', 'RevisionCreated', 'revision 1 recorded']);
      } else {
        next = structuredClone(previous);
        const latest = next.revisions[next.revisions.length - 1]!;
        if (latest.hash !== snapshot.hash) {
          const revision = latest.revision + 1;
          next.revisions.push({ revision, created: timestamp(now), ...snapshot });
          const current = next.revisions.find((r) => r.revision === next.currentRevision);
          delete next.failure;
          delete next.batchStartTime;
          delete next.admitted;
          if (spec.disruptionBudget) next.admitted = {};
          if (current?.hash === snapshot.hash) {
            // Back to what the devices run (an undo after a rollback): nothing to roll out.
            next.currentRevision = next.updateRevision = revision;
            next.releasedBatches = 0;
            next.phase = 'Complete';
            told.push([
              'Normal',
              'RevisionCreated',
              `revision ${revision} recorded, the content devices run`,
            ]);
          } else {
            next.updateRevision = revision;
            next.releasedBatches = 0;
            next.phase = 'Progressing';
            told.push(['Normal', 'RevisionCreated', `revision ${revision} recorded, rolling out`]);
          }
          next.revisions = trimmed(next.revisions, next, spec.revisionHistoryLimit ?? DEFAULT_HISTORY);
        }
      }
      next.observedGeneration = placement.metadata.generation;
      const unknown = unknownWindows(placement, spec);
      if (unknown.length > 0) next.unknownUpdateWindows = unknown;
      else delete next.unknownUpdateWindows;
      if (unknown.length > 0 && !isDeepStrictEqual(previous?.unknownUpdateWindows, unknown))
        told.push([
          'Warning',
          'UnknownUpdateWindow',
          `${unknown.map((u) => `${u.devices} device(s) (${u.examples.join(', ')}) name update window ${JSON.stringify(u.name)}`).join('; ')}, which spec.rollout.updateWindows does not define: they keep spec.rollout.updateWindow`,
        ]);
      if (next.updateRevision !== next.currentRevision) {
        advance(placement, spec, next, now, told);
      }
      if (!isDeepStrictEqual(previous, next)) {
        const status = { ...(placement.status as Record<string, unknown> | undefined), rollout: next };
        await service.update(
          placementKind,
          namespace,
          name,
          { ...placement, status },
          { fieldManager: ROLLOUT_FIELD_MANAGER },
          'status',
        );
        for (const [type, reason, message] of told)
          events.record(placement, type, reason, message, 'Rollout');
      }
      return next.updateRevision !== next.currentRevision ? { requeueAfter: recheckMs } : undefined;
    },
  };

  /**
   * The values of the update-window label on the Placement's devices that
   * name no window of `spec.rollout.updateWindows`, with how many devices
   * and the first few; from the label index, so only labelled devices are
   * looked at.
   */
  function unknownWindows(
    placement: KubeObject,
    spec: RolloutSpec,
  ): NonNullable<RolloutStatus['unknownUpdateWindows']> {
    const labelled = caches.devices.selectCached(WINDOW_LABELLED);
    if (labelled.length === 0) return [];
    const plan = batchPlanOf(placement, spec, caches, bounds);
    const defined = new Set((spec.updateWindows ?? []).map((w) => w.name));
    const byName = new Map<string, string[]>();
    for (const device of labelled) {
      const name = caches.devices.labelsOf(device)?.[UPDATE_WINDOW_LABEL];
      if (name === undefined || defined.has(name) || !plan.batchOf.has(device)) continue;
      // A device's own spec.updateWindow wins: its label is not used.
      if ((informers.devices.get(undefined, device)?.spec as Device['spec'] | undefined)?.updateWindow)
        continue;
      const devices = byName.get(name) ?? [];
      devices.push(device);
      byName.set(name, devices);
    }
    return [...byName]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .slice(0, MAX_UNKNOWN_WINDOWS)
      .map(([name, devices]) => ({ name, devices: devices.length, examples: devices.sort().slice(0, 5) }));
  }

  /** Counts the released batches, rolls back past the error threshold, else releases the next batch when due. */
  function advance(
    placement: KubeObject,
    spec: RolloutSpec,
    next: RolloutStatus,
    now: Date,
    told: Array<['Normal' | 'Warning', string, string]>,
  ): void {
    const namespace = placement.metadata.namespace!;
    const name = placement.metadata.name!;
    const plan = batchPlanOf(placement, spec, caches, bounds);
    const update = next.revisions.find((r) => r.revision === next.updateRevision)!;
    const counts: BatchCount[] = plan.sizes.map((devices) => ({
      devices,
      updated: 0,
      failed: 0,
      unreachable: 0,
    }));
    const failures: Array<{ device: string; reason: string }> = [];
    const deadlineMs = (spec.progressDeadlineSeconds ?? DEFAULT_DEADLINE_S) * 1000;
    const budget = spec.disruptionBudget;
    const states = new Map<string, BudgetDeviceState>();
    /** Reachable devices given the update revision: the error threshold's whole. */
    let given = 0;
    const seen = `${namespace}/${name}@${update.revision}`;
    for (const [device, batch] of plan.batchOf) {
      const count = counts[batch]!;
      const object = informers.devices.get(undefined, device);
      const unreachable = (object?.status as Device['status'])?.phase === 'Unreachable';
      if (unreachable) count.unreachable++;
      // A batch not released yet is only counted, unless the budget needs to know what each device holds.
      if (batch >= next.releasedBatches && !budget) continue;
      const mailbox = informers.mailboxes.get(undefined, device) as Mailbox | undefined;
      const holdsUpdate = holds(mailbox, namespace, name, update);
      let updated = false;
      if (batch < next.releasedBatches && !unreachable) {
        if (revisionOfDevice(next, plan, device) === next.updateRevision) given++;
        if (holdsUpdate && mailbox && seenUpdated.get(mailbox) === seen) {
          count.updated++;
          updated = true;
        } else if (holdsUpdate) {
          const state = combineStates(
            update.workloads.map((w) =>
              evaluateWorkload(
                mailbox,
                { namespace, workload: w.name },
                { now: now.getTime(), progressDeadlineMs: deadlineMs, unreachable },
              ),
            ),
            unreachable,
          );
          if (state.failure) {
            count.failed++;
            failures.push({ device, reason: state.failure.reason });
          } else if (state.running) {
            count.updated++;
            updated = true;
            if (mailbox) seenUpdated.set(mailbox, seen);
          }
        }
      }
      if (budget) states.set(device, { unreachable, holds: holdsUpdate, updated });
    }
    next.batches = counts;
    if (given > 0 && failures.length * 100 >= (spec.errorThreshold ?? DEFAULT_ERROR) * given) {
      rollBack(next, failures, given, now, told);
      return;
    }
    const admit = (): void => {
      if (!budget) return;
      next.admitted = admitWithinBudget(
        budget,
        plan,
        next.releasedBatches,
        next.admitted,
        (d) => states.get(d)!,
      );
      for (const [device, batch] of plan.batchOf) {
        if (batch >= next.releasedBatches || revisionOfDevice(next, plan, device) === next.updateRevision)
          continue;
        counts[batch]!.waiting = (counts[batch]!.waiting ?? 0) + 1;
      }
    };
    const paused = spec.paused === true;
    const batchCount = plan.sizes.length;
    if (next.releasedBatches > 0) {
      const current = counts[next.releasedBatches - 1]!;
      const reachableInBatch = current.devices - current.unreachable;
      const succeeded =
        current.updated * 100 >= (spec.successThreshold ?? DEFAULT_SUCCESS) * reachableInBatch;
      if (!succeeded) {
        next.phase = paused ? 'Paused' : 'Progressing';
        admit();
        return;
      }
      if (next.releasedBatches >= batchCount) {
        admit();
        // Under a budget, devices short of the success threshold may still wait for their turn.
        if (next.admitted && !everyDeviceAdmitted(plan, next.admitted)) {
          next.phase = 'Progressing';
          return;
        }
        delete next.admitted;
        next.currentRevision = next.updateRevision;
        next.phase = 'Complete';
        delete next.batchStartTime;
        told.push(['Normal', 'RolloutComplete', `revision ${next.updateRevision} runs on every batch`]);
        return;
      }
      told.push([
        'Normal',
        'BatchSucceeded',
        `revision ${next.updateRevision}: batch ${next.releasedBatches} of ${batchCount} succeeded`,
      ]);
    }
    if (paused) {
      next.phase = 'Paused';
      admit();
      return;
    }
    const batch = next.releasedBatches;
    const approval = spec.strategy === 'Batches' ? spec.batches?.[batch]?.approval : undefined;
    if (approval === 'Manual' && !approved(placement, next.updateRevision, batch)) {
      if (next.phase !== 'WaitingForApproval')
        told.push([
          'Normal',
          'WaitingForApproval',
          `revision ${next.updateRevision}: batch ${batch + 1} waits for approval`,
        ]);
      next.phase = 'WaitingForApproval';
      admit();
      return;
    }
    next.releasedBatches = batch + 1;
    next.batchStartTime = timestamp(now);
    next.phase = 'Progressing';
    told.push([
      'Normal',
      'BatchStarted',
      `revision ${next.updateRevision}: batch ${batch + 1} of ${batchCount} started (${counts[batch]!.devices} devices)`,
    ]);
    admit();
  }

  function rollBack(
    next: RolloutStatus,
    failures: ReadonlyArray<{ device: string; reason: string }>,
    reachable: number,
    now: Date,
    told: Array<['Normal' | 'Warning', string, string]>,
  ): void {
    const reasons = new Map<string, number>();
    for (const f of failures) reasons.set(f.reason, (reasons.get(f.reason) ?? 0) + 1);
    const top = [...reasons]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, MAX_REASONS)
      .map(([reason, count]) => ({ reason, count }));
    const failedRevision = next.updateRevision;
    const message =
      `revision ${failedRevision} failed on ${failures.length} of ${reachable} reachable devices ` +
      `(${top.map((r) => `${r.reason}: ${r.count}`).join(', ')}); rolled back to revision ${next.currentRevision}`;
    next.failure = {
      revision: failedRevision,
      time: timestamp(now),
      devices: failures
        .map((f) => f.device)
        .sort()
        .slice(0, MAX_BROKEN),
      reasons: top,
      message,
    };
    next.updateRevision = next.currentRevision;
    next.releasedBatches = 0;
    delete next.admitted;
    next.phase = 'RolledBack';
    delete next.batchStartTime;
    told.push(['Warning', 'RolledBack', message]);
  }
}

/** Whether a device's Mailbox holds the objects of `revision` from this Placement (rendered, not yet run). */
function holds(
  mailbox: Mailbox | undefined,
  namespace: string,
  placement: string,
  revision: PlacementRevision,
): boolean {
  if (!mailbox) return false;
  let found = false;
  for (const entry of mailbox.spec?.objects ?? []) {
    if (entry.source.namespace !== namespace || entry.source.placement !== placement) continue;
    if (entry.revision !== revision.revision) return false;
    found = true;
  }
  return found || revision.workloads.length === 0;
}

/** Whether `outpost rollout approve` released `batch` (or a later one) of `revision`. */
function approved(placement: KubeObject, revision: number, batch: number): boolean {
  const value = placement.metadata.annotations?.[APPROVE_ANNOTATION];
  const match = value ? /^(\d+)\/(\d+)$/.exec(value) : null;
  return match !== null && Number(match[1]) === revision && Number(match[2]) >= batch;
}

/** The newest revisions, at most `limit`, always keeping the current and the update revision. */
function trimmed(revisions: PlacementRevision[], status: RolloutStatus, limit: number): PlacementRevision[] {
  const keep = new Set([status.currentRevision, status.updateRevision]);
  const result = [...revisions];
  while (result.length > limit) {
    const index = result.findIndex((r) => !keep.has(r.revision));
    if (index < 0) break;
    result.splice(index, 1);
  }
  return result;
}
