import type { DisruptionBudget } from '../../../api/index.ts';
import type { BatchPlan } from './rollout-plan.ts';

/** How a device stands, as the rollout reconciler reads its Mailbox and Device. */
export interface BudgetDeviceState {
  readonly unreachable: boolean;
  /** Its Mailbox holds the update revision. */
  readonly holds: boolean;
  /** It holds the update revision and its agent reports it running and ready. */
  readonly updated: boolean;
}

/**
 * How many devices of each group may hold the update revision after this
 * pass: the rollout reconciler's admissions under a disruption budget.
 *
 * Each group's devices are given the update in one order (batch, then name:
 * `plan.groups`), so a count per group says which devices were admitted,
 * whatever the fleet's size. An admitted device is unavailable from then
 * until its agent reports the update revision running and ready; the group's
 * next devices of the released batches are admitted while the budget allows
 * (this holds across batches: a slow device of batch 1 still counts while
 * batch 2 runs). An unreachable device is admitted without taking a slot:
 * it is down already and updates when it returns (the budget can then be
 * exceeded by the devices returning together), rather than blocking its
 * group for as long as it stays away.
 *
 * `admitted` absent (a budget added mid-rollout) starts each group from the
 * devices that hold the update already.
 */
export function admitWithinBudget(
  budget: DisruptionBudget,
  plan: BatchPlan,
  releasedBatches: number,
  admitted: Readonly<Record<string, number>> | undefined,
  stateOf: (device: string) => BudgetDeviceState,
): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [group, members] of plan.groups ?? []) {
    let released = 0;
    while (released < members.length && plan.batchOf.get(members[released]!)! < releasedBatches) released++;
    let count = admitted ? Math.min(admitted[group] ?? 0, released) : heldPrefix(members, released, stateOf);
    let unavailable = 0;
    let reachable = 0;
    for (let rank = 0; rank < members.length; rank++) {
      const state = stateOf(members[rank]!);
      if (state.unreachable) continue;
      reachable++;
      if (rank < count && !state.updated) unavailable++;
    }
    let slots =
      budget.maxUnavailable !== undefined
        ? countOf(budget.maxUnavailable, members.length) - unavailable
        : reachable - unavailable - countOf(budget.minAvailable ?? 0, members.length);
    while (count < released) {
      if (!stateOf(members[count]!).unreachable) {
        if (slots <= 0) break;
        slots--;
      }
      count++;
    }
    if (count > 0) result[group] = count;
  }
  return result;
}

/** Whether every device of every group was admitted: nothing left for the budget to hold back. */
export function everyDeviceAdmitted(plan: BatchPlan, admitted: Readonly<Record<string, number>>): boolean {
  for (const [group, members] of plan.groups ?? []) if ((admitted[group] ?? 0) < members.length) return false;
  return true;
}

/** The devices up to the last released one holding the update already. */
function heldPrefix(
  members: readonly string[],
  released: number,
  stateOf: (device: string) => BudgetDeviceState,
): number {
  let count = 0;
  for (let rank = 0; rank < released; rank++) if (stateOf(members[rank]!).holds) count = rank + 1;
  return count;
}

/** A count, or a percentage of the group's devices rounded up. */
function countOf(value: number | string, size: number): number {
  if (typeof value === 'number') return value;
  return Math.ceil((size * Number(value.slice(0, -1))) / 100);
}
