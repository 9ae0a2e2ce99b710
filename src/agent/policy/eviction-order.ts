import type { KubeObject } from '../../api/index.ts';
import {
  CRITICAL_PRIORITY,
  priorityOf,
  QOS_CLASSES,
  type QosClass,
  qosClassOf,
  unitRequestsOf,
} from '../runtime/index.ts';

/** A running unit the guard may evict. */
export interface EvictionCandidate {
  readonly id: string;
  readonly object: KubeObject;
}

/** A candidate with what decides its place in the order. */
export interface RankedCandidate extends EvictionCandidate {
  readonly priority: number;
  readonly qos: QosClass;
  readonly memoryRequestBytes: number;
}

/**
 * The order in which units are evicted under pressure, first victim first:
 * lower priority first (`spec.priority`, else `priorityClassName`'s built-in
 * value, else 0); within a priority BestEffort before Burstable before
 * Guaranteed; then the unit that requests less memory (it loses less
 * when it goes: a device rarely runs more than a few units, so the one
 * asking least is the least planned for); then by id, so the order is
 * stable. Critical units (priority from 2,000,000,000 on, the
 * `system-*-critical` classes) are never evicted and are left out.
 */
export function evictionOrder(candidates: readonly EvictionCandidate[]): RankedCandidate[] {
  return candidates
    .map((candidate) => ({
      ...candidate,
      priority: priorityOf(candidate.object),
      qos: qosClassOf(candidate.object),
      memoryRequestBytes: unitRequestsOf(candidate.object).memoryBytes,
    }))
    .filter((candidate) => candidate.priority < CRITICAL_PRIORITY)
    .sort(
      (a, b) =>
        a.priority - b.priority ||
        QOS_CLASSES.indexOf(a.qos) - QOS_CLASSES.indexOf(b.qos) ||
        a.memoryRequestBytes - b.memoryRequestBytes ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
}
