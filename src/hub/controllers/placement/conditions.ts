import type { RolloutSummary } from '../../../api/index.ts';

/** A status condition as Kubernetes writes it. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

/** A problem on one device (a left-out object), for a bounded condition message. */
export interface DeviceProblem {
  readonly device: string;
  readonly reason: string;
  readonly message: string;
}

/** At most this many devices are named in a condition message. */
export const MAX_NAMED = 5;

/** What a Placement's workload selector found, for its `WorkloadsFound` condition. */
export interface WorkloadSelection {
  /** Workloads selected, by name. */
  readonly selected: readonly string[];
  /** Names the selector lists that no Workload of the namespace has (or only one being deleted). */
  readonly missing: readonly string[];
  /** Names the selector lists whose Workload exists but does not match its labels. */
  readonly unmatched: readonly string[];
}

/**
 * The conditions of a Workload's or Placement's status:
 *
 * - `Ready`: True when every matched device runs everything (False with
 *   `NoDevices`, `Failed`, `Unreachable` or `Progressing` otherwise);
 * - `Customized`: False when objects were left out of devices because a
 *   parameter is missing (`MissingParameter`) or an override could not apply
 *   (`PatchFailed`), naming devices and parameters;
 * - `Conflicted`: True when objects were left out because another Workload
 *   placed one of the same kind, namespace and name first;
 * - `WorkloadsFound` (Placements only, when `selection` is given): False
 *   with `WorkloadNotFound` naming the Workloads the selector lists that do
 *   not exist (or do not match its labels), or `NoWorkloadsSelected` when it
 *   selects none; Ready is then False with the same reason, never "all
 *   running" for a Placement that runs nothing it asked for.
 */
export function rolloutConditions(input: {
  readonly devices: NonNullable<RolloutSummary['devices']>;
  readonly failureReasons: NonNullable<RolloutSummary['failureReasons']>;
  readonly problems: readonly DeviceProblem[];
  readonly generation: number | undefined;
  readonly selection?: WorkloadSelection;
}): Condition[] {
  const { devices, problems } = input;
  const customization = problems.filter((p) => p.reason !== 'Conflict');
  const conflicts = problems.filter((p) => p.reason === 'Conflict');
  const generation = input.generation !== undefined ? { observedGeneration: input.generation } : {};
  let ready: Condition;
  const counts = `${devices.running}/${devices.matched} devices running`;
  const reasons = input.failureReasons.map((r) => `${r.reason}: ${r.count}`).join(', ');
  if (devices.matched === 0) {
    ready = { type: 'Ready', status: 'False', reason: 'NoDevices', message: 'no device matched' };
  } else if (devices.running === devices.matched) {
    ready = { type: 'Ready', status: 'True', reason: 'AllRunning', message: counts };
  } else if (devices.failed > 0) {
    ready = { type: 'Ready', status: 'False', reason: 'Failed', message: `${counts}; ${reasons}` };
  } else if (devices.unreachable > 0) {
    ready = { type: 'Ready', status: 'False', reason: 'Unreachable', message: `${counts}; ${reasons}` };
  } else {
    ready = {
      type: 'Ready',
      status: 'False',
      reason: 'Progressing',
      message: `${counts}, ${devices.applied} applied`,
    };
  }
  const customized: Condition =
    customization.length === 0
      ? { type: 'Customized', status: 'True', reason: 'AllRendered', message: 'every object rendered' }
      : {
          type: 'Customized',
          status: 'False',
          reason: customization.some((p) => p.reason === 'MissingParameter')
            ? 'MissingParameter'
            : 'PatchFailed',
          message: boundedMessage(customization, 'objects left out'),
        };
  const conflicted: Condition =
    conflicts.length === 0
      ? { type: 'Conflicted', status: 'False', reason: 'NoConflicts', message: 'no object collides' }
      : {
          type: 'Conflicted',
          status: 'True',
          reason: 'ObjectCollision',
          message: boundedMessage(conflicts, 'objects left out'),
        };
  const conditions = [ready, customized, conflicted];
  if (input.selection) {
    const found = workloadsFound(input.selection);
    conditions.push(found);
    if (found.status === 'False') {
      conditions[0] = {
        type: 'Ready',
        status: 'False',
        reason: found.reason,
        message: `${found.message}; ${counts}`,
      };
    }
  }
  return conditions.map((condition) => ({ ...condition, ...generation }));
}

/** The `WorkloadsFound` condition of a Placement (see {@link rolloutConditions}). */
export function workloadsFound(selection: WorkloadSelection): Condition {
  const parts: string[] = [];
  if (selection.missing.length > 0) parts.push(`workloads not found: ${namesOf(selection.missing)}`);
  if (selection.unmatched.length > 0)
    parts.push(`workloads not matching the label selector: ${namesOf(selection.unmatched)}`);
  if (parts.length > 0) {
    return { type: 'WorkloadsFound', status: 'False', reason: 'WorkloadNotFound', message: parts.join('; ') };
  }
  if (selection.selected.length === 0) {
    return {
      type: 'WorkloadsFound',
      status: 'False',
      reason: 'NoWorkloadsSelected',
      message: 'the workload selector selects no Workload of the namespace',
    };
  }
  const count = selection.selected.length;
  return {
    type: 'WorkloadsFound',
    status: 'True',
    reason: 'WorkloadsFound',
    message: `${count} workload${count === 1 ? '' : 's'} selected: ${namesOf(selection.selected)}`,
  };
}

/** "a, b, c" (sorted), at most {@link MAX_NAMED} names, then "and N more". */
function namesOf(names: readonly string[]): string {
  const sorted = [...names].sort();
  const shown = sorted.slice(0, MAX_NAMED).join(', ');
  return sorted.length > MAX_NAMED ? `${shown} and ${sorted.length - MAX_NAMED} more` : shown;
}

/** "N objects left out on M devices: gw-1: ...; gw-2: ...; and K more devices" (at most {@link MAX_NAMED} named). */
export function boundedMessage(problems: readonly DeviceProblem[], what: string): string {
  const sorted = [...problems].sort((a, b) =>
    a.device < b.device ? -1 : a.device > b.device ? 1 : a.message < b.message ? -1 : 1,
  );
  const devices = [...new Set(sorted.map((p) => p.device))];
  const named = new Set(devices.slice(0, MAX_NAMED));
  const parts = sorted.filter((p) => named.has(p.device)).map((p) => `device ${p.device}: ${p.message}`);
  const more = devices.length - named.size;
  const head = `${problems.length} ${what} on ${devices.length} device${devices.length === 1 ? '' : 's'}`;
  return `${head}: ${parts.slice(0, MAX_NAMED * 2).join('; ')}${more > 0 ? `; and ${more} more devices` : ''}`;
}

/**
 * Conditions to write: `next`, with each one's `lastTransitionTime` kept from
 * `previous` while its status is unchanged (so that an unchanged status
 * writes nothing), else `now`.
 */
export function withTransitionTimes(
  next: readonly Condition[],
  previous: readonly Condition[] | undefined,
  now: string,
): Condition[] {
  return next.map((condition) => {
    const before = previous?.find((p) => p.type === condition.type);
    const lastTransitionTime =
      before && before.status === condition.status && before.lastTransitionTime
        ? before.lastTransitionTime
        : now;
    return { ...condition, lastTransitionTime };
  });
}
