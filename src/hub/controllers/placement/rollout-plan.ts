import {
  type Device,
  type KubeObject,
  type Placement,
  type PlacementRevision,
  type RolloutSpec,
  type RolloutStatus,
  UPDATE_WINDOW_LABEL,
  type UpdateWindow,
} from '../../../api/index.ts';
import { canonicalJson } from '../../../util/index.ts';
import { contentHash } from './hash.ts';
import { type LabelSelectorShape, selects } from './selection.ts';

/** A device as batching sees it. */
export interface BatchDevice {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** Which batch each device is in, and how many devices each batch has. */
export interface BatchPlan {
  readonly batchOf: ReadonlyMap<string, number>;
  readonly sizes: readonly number[];
  /**
   * With a disruption budget: each group's devices in the order they are
   * given an update (batch, then name), and each device's group and place in it.
   */
  readonly groups?: ReadonlyMap<string, readonly string[]>;
  readonly placeOf?: ReadonlyMap<string, { readonly group: string; readonly rank: number }>;
}

/**
 * Splits the matched devices into batches: devices in name order, each batch
 * in turn takes the devices left that its selector matches (any, without
 * one), up to its limit (a count, or a percentage of all matched devices
 * rounded up); the devices no batch took form an implicit last batch.
 * AllAtOnce (or no strategy) is one batch of every device.
 *
 * Deterministic in its inputs, so the mailbox reconciler (which revision a
 * device's Mailbox holds) and the rollout reconciler (how a batch is doing)
 * agree without storing 10,000 names. A device that joins or leaves
 * mid-rollout can move later devices across a count boundary.
 */
export function planBatches(rollout: RolloutSpec | undefined, devices: readonly BatchDevice[]): BatchPlan {
  const sorted = [...devices].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const batchOf = new Map<string, number>();
  const batches = rollout?.strategy === 'Batches' ? (rollout.batches ?? []) : [];
  const sizes: number[] = [];
  batches.forEach((batch, index) => {
    const limit = limitOf(batch.limit, sorted.length);
    let taken = 0;
    for (const device of sorted) {
      if (taken >= limit) break;
      if (batchOf.has(device.name)) continue;
      if (batch.selector && !selects(batch.selector as LabelSelectorShape, device.labels)) continue;
      batchOf.set(device.name, index);
      taken++;
    }
    sizes.push(taken);
  });
  const last = batches.length;
  let rest = 0;
  for (const device of sorted) {
    if (batchOf.has(device.name)) continue;
    batchOf.set(device.name, last);
    rest++;
  }
  if (rest > 0 || batches.length === 0) sizes.push(rest);
  const budget = rollout?.disruptionBudget;
  if (!budget) return { batchOf, sizes };
  const groups = new Map<string, string[]>();
  const placeOf = new Map<string, { group: string; rank: number }>();
  // Sorted by name already; a stable sort by batch gives batch, then name order.
  const ordered = sorted.slice().sort((a, b) => batchOf.get(a.name)! - batchOf.get(b.name)!);
  for (const device of ordered) {
    const group = groupKeyOf(budget.groupBy, device.labels);
    const members = groups.get(group) ?? [];
    placeOf.set(device.name, { group, rank: members.length });
    members.push(device.name);
    groups.set(group, members);
  }
  return { batchOf, sizes, groups, placeOf };
}

/** The disruption-budget group of a device: `key=value` of each groupBy key (empty value when absent). */
export function groupKeyOf(
  groupBy: readonly string[],
  labels: Readonly<Record<string, string>> | undefined,
): string {
  return groupBy.map((key) => `${key}=${labels?.[key] ?? ''}`).join(',');
}

/**
 * The revision a device holds: the update revision once its batch is released
 * and, with a disruption budget, once the rollout controller admitted it
 * (its place in its group below the group's admitted count); the current one
 * before.
 */
export function revisionOfDevice(status: RolloutStatus, plan: BatchPlan, device: string): number {
  const batch = plan.batchOf.get(device) ?? plan.sizes.length - 1;
  if (batch >= status.releasedBatches) return status.currentRevision;
  const place = plan.placeOf?.get(device);
  if (place && status.admitted && place.rank >= (status.admitted[place.group] ?? 0)) {
    return status.currentRevision;
  }
  return status.updateRevision;
}

function limitOf(limit: number | string | undefined, total: number): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (typeof limit === 'number') return limit;
  const percent = Number(limit.slice(0, -1));
  return Math.max(1, Math.ceil((total * percent) / 100));
}

/** The rollout state of a Placement, when its rollout controller has recorded one. */
export function rolloutStatusOf(placement: KubeObject): RolloutStatus | undefined {
  const status = (placement.status as { rollout?: RolloutStatus } | undefined)?.rollout;
  return status && status.revisions.length > 0 ? status : undefined;
}

/** The placed Workloads as a revision's content (name order), with its hash. */
export function snapshotOf(workloads: readonly KubeObject[]): Pick<PlacementRevision, 'hash' | 'workloads'> {
  const content = [...workloads]
    .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1))
    .map((w) => ({
      name: w.metadata.name!,
      ...(w.metadata.uid ? { uid: w.metadata.uid } : {}),
      ...(w.metadata.generation !== undefined ? { generation: w.metadata.generation } : {}),
      ...(w.metadata.creationTimestamp ? { creationTimestamp: w.metadata.creationTimestamp } : {}),
      ...(w.metadata.labels ? { labels: { ...w.metadata.labels } } : {}),
      spec: structuredClone(w.spec ?? {}) as Record<string, unknown>,
    }));
  // What a device runs depends on the specs only (names, for the sources): uid and generation aside.
  const hash = contentHash(canonicalJson(content.map((w) => [w.name, w.spec])));
  return { hash, workloads: content };
}

/** A Workload as it was at a revision, shaped for the renderer. */
export function workloadAt(placement: KubeObject, entry: PlacementRevision['workloads'][number]): KubeObject {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: {
      namespace: placement.metadata.namespace,
      name: entry.name,
      ...(entry.uid ? { uid: entry.uid } : {}),
      ...(entry.creationTimestamp ? { creationTimestamp: entry.creationTimestamp } : {}),
      ...(entry.labels ? { labels: entry.labels } : {}),
    },
    spec: entry.spec,
  };
}

/** The window of `spec.rollout.updateWindows` called `name`, as a window (without its name). */
export function namedWindow(
  rollout: RolloutSpec | undefined,
  name: string | undefined,
): UpdateWindow | undefined {
  if (name === undefined) return undefined;
  const found = rollout?.updateWindows?.find((w) => w.name === name);
  if (!found) return undefined;
  const { name: _name, ...window } = found;
  return window;
}

/** The rollout spec of a Placement with its defaults; undefined when it asks for none. */
export function rolloutSpecOf(placement: KubeObject): RolloutSpec | undefined {
  return (placement.spec as Partial<Placement['spec']> | undefined)?.rollout;
}

/**
 * The update window a device's objects of a Placement carry: the Device's
 * own `spec.updateWindow`, else the window of `spec.rollout.updateWindows`
 * its `outpost.dev/update-window` label names, else the Placement's
 * `spec.rollout.updateWindow`; none after a rollback, which devices apply at
 * once whatever their window.
 */
export function updateWindowOf(placement: KubeObject, device: KubeObject): UpdateWindow | undefined {
  const rollout = rolloutSpecOf(placement);
  const window =
    (device.spec as Partial<Device['spec']> | undefined)?.updateWindow ??
    namedWindow(rollout, device.metadata.labels?.[UPDATE_WINDOW_LABEL]) ??
    rollout?.updateWindow;
  if (!window) return undefined;
  return rolloutStatusOf(placement)?.phase === 'RolledBack' ? undefined : window;
}
