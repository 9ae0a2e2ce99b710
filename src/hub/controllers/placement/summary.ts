import { isDeepStrictEqual } from 'node:util';
import type {
  Device,
  KindDefinition,
  KubeObject,
  Mailbox,
  Placement,
  RolloutSummary,
} from '../../../api/index.ts';
import { type Client, type Reconciler, splitKey, yieldIfSliceUsed } from '../../../controller/index.ts';
import { type EventSink, NO_EVENTS } from '../../events/index.ts';
import { kindOf, timestamp } from '../support.ts';
import { DeviceBounds } from './boundaries.ts';
import {
  type Condition,
  type DeviceProblem,
  rolloutConditions,
  type WorkloadSelection,
  withTransitionTimes,
} from './conditions.ts';
import { FIELD_MANAGER, NAMESPACE_INDEX, type PlacementInformers } from './mailbox.ts';
import { selects, selectsWorkload } from './selection.ts';
import { type PlacementCaches, parametersSignature, specVersion } from './state.ts';
import { combineStates, type DeviceState, evaluateWorkload, summarize } from './status.ts';
import { RolloutEvents } from './summary-events.ts';

export interface SummaryReconcilerOptions {
  readonly service: Client;
  readonly informers: PlacementInformers;
  readonly caches: PlacementCaches;
  readonly now: () => Date;
  /** How long a device may take to apply and run a change before it counts as failed. */
  readonly progressDeadlineMs: number;
  /** How soon to look again while some device's Mailbox is not yet rendered from the current specs. @default 500 */
  readonly staleRecheckMs?: number;
  /** Where failures on devices and conditions turning bad are told as Events. @default none */
  readonly events?: EventSink;
  /** Which devices each namespace may place on. @default the DeviceBoundaries, none required */
  readonly bounds?: DeviceBounds;
}

/** The summary controller's key of a Placement or a Workload. */
export function summaryKey(kind: 'Placement' | 'Workload', namespace: string, name: string): string {
  return `${kind}:${namespace}/${name}`;
}

/** What a summary needs a device's Mailbox to have been rendered from: these Placements and Workloads (`namespace/name`). */
interface RequiredInputs {
  readonly placements: readonly string[];
  readonly workloads: readonly string[];
}

/**
 * The status summary reconciler, keyed by {@link summaryKey}: writes a
 * Placement's or Workload's status — device counts (matched, applied,
 * running, failed, unreachable), the most common failure reasons, at most 20
 * broken devices, observedGeneration and the Ready / Customized / Conflicted
 * conditions (and a Placement's DevicesExcluded: matched devices its
 * namespace's DeviceBoundaries leave out, never counted as matched) — from
 * the Mailboxes of its devices and their agents' reports.
 *
 * It waits (writes nothing, looks again shortly) while a device's Mailbox has
 * not yet been rendered from the current specs, so a status never describes
 * content the devices have not been given. A device that has not applied and
 * run a change within the progress deadline counts as failed
 * (`ProgressDeadlineExceeded`); the key is requeued for the moment that
 * happens, so status never stays "progressing" without an event.
 *
 * A Workload no Placement selects gets no status from it, unless it wrote
 * one before (then the summary says `NoDevices`): an unplaced Workload's
 * status is nobody's business but whoever wrote it.
 *
 * A device starting to fail, and a condition turning bad, are told once as
 * Warning Events on the Placement or Workload ({@link RolloutEvents}).
 */
export function createSummaryReconciler(options: SummaryReconcilerOptions): Reconciler {
  const { service, informers, caches } = options;
  const placementKind = kindOf(service, 'Placement');
  const workloadKind = kindOf(service, 'Workload');
  const staleRecheckMs = options.staleRecheckMs ?? 500;
  const told = new RolloutEvents(options.events ?? NO_EVENTS);
  const bounds = options.bounds ?? new DeviceBounds(informers.boundaries);
  /**
   * Per key, the device found stale last time. The next check starts there
   * (and wraps around): during a fan-out, Mailboxes become fresh roughly in
   * the order devices are checked, so waiting one out costs about one pass.
   */
  const staleHints = new Map<string, string>();
  const allFresh = async (
    key: string,
    devices: readonly KubeObject[],
    required: RequiredInputs,
  ): Promise<boolean> => {
    const hinted = staleHints.get(key);
    const hint = hinted === undefined ? undefined : informers.devices.get(undefined, hinted);
    const start = Math.max(0, hint ? devices.indexOf(hint) : 0);
    for (let i = 0; i < devices.length; i++) {
      const turn = yieldIfSliceUsed();
      if (turn) await turn;
      const device = devices[(start + i) % devices.length]!;
      if (!fresh(device, required)) {
        staleHints.set(key, device.metadata.name!);
        return false;
      }
    }
    staleHints.delete(key);
    return true;
  };

  /**
   * Whether one of the key's devices is stale, looked for among candidate names (from the one
   * found stale last time on) before any device list is built: while a fan-out to 10,000
   * devices is writing Mailboxes a summary looks again and again, and each look would
   * otherwise gather and filter every device first. `covers` tells whether a candidate is one
   * of the key's devices. False says only that none was found: the full check follows.
   */
  const anyStale = async (
    key: string,
    required: RequiredInputs,
    names: readonly string[],
    covers: (labels: Readonly<Record<string, string>> | undefined) => boolean,
  ): Promise<boolean> => {
    const hinted = staleHints.get(key);
    const start = hinted === undefined ? 0 : Math.max(0, names.indexOf(hinted));
    for (let i = 0; i < names.length; i++) {
      const turn = yieldIfSliceUsed();
      if (turn) await turn;
      const name = names[(start + i) % names.length]!;
      const device = informers.devices.get(undefined, name);
      if (!device || device.metadata.deletionTimestamp || !covers(caches.devices.labelsOf(name))) continue;
      if (!fresh(device, required)) {
        staleHints.set(key, name);
        return true;
      }
    }
    return false;
  };

  /** Whether a device's Mailbox was rendered from the current specs of everything it depends on. */
  const fresh = (device: KubeObject, required: RequiredInputs): boolean => {
    const stamps = caches.stampsOf(device.metadata.name!);
    if (!stamps || stamps.device !== parametersSignature(device)) return false;
    for (const key of required.placements) if (!stamps.placements.has(key)) return false;
    for (const key of required.workloads) if (!stamps.workloads.has(key)) return false;
    // The cache must show the Mailbox as written (its watch event may come after the write returned).
    const mailbox = informers.mailboxes.get(undefined, device.metadata.name!);
    if (Number(mailbox?.metadata.resourceVersion ?? 0) < Number(stamps.mailbox ?? Infinity)) return false;
    for (const [key, version] of stamps.placements) {
      if (specVersion(informers.placements.getByKey(key)) !== version) return false;
    }
    for (const [key, version] of stamps.workloads) {
      if (specVersion(informers.workloads.getByKey(key)) !== version) return false;
    }
    return true;
  };

  const matchedDevices = (selector: Placement['spec']['deviceSelector'] | undefined): KubeObject[] =>
    caches.devices
      .selectCached(selector)
      .map((name) => informers.devices.get(undefined, name))
      .filter((device): device is KubeObject => device !== undefined && !device.metadata.deletionTimestamp);
  /** The devices a Placement places on: those its selector matches that its namespace's bounds allow. */
  const liveDevices = (placement: KubeObject): KubeObject[] =>
    matchedDevices((placement.spec as Placement['spec']).deviceSelector).filter((device) =>
      bounds.allows(placement.metadata.namespace!, device.metadata.labels),
    );

  const selectedWorkloads = (placement: KubeObject): KubeObject[] =>
    informers.workloads.byIndex(NAMESPACE_INDEX, placement.metadata.namespace!).filter(
      (workload) =>
        !workload.metadata.deletionTimestamp &&
        selectsWorkload((placement.spec as Placement['spec']).workloadSelector, {
          name: workload.metadata.name!,
          labels: workload.metadata.labels,
        }),
    );

  /** What a Placement's workload selector finds among the cached Workloads of its namespace. */
  const selectionOf = (placement: KubeObject, selected: readonly KubeObject[]): WorkloadSelection => {
    const names = (placement.spec as Placement['spec']).workloadSelector?.names ?? [];
    const chosen = new Set(selected.map((w) => w.metadata.name!));
    const missing: string[] = [];
    const unmatched: string[] = [];
    for (const name of new Set(names)) {
      if (chosen.has(name)) continue;
      const workload = informers.workloads.get(placement.metadata.namespace, name);
      if (!workload || workload.metadata.deletionTimestamp) missing.push(name);
      else unmatched.push(name);
    }
    return { selected: [...chosen], missing, unmatched };
  };

  async function write(
    kind: KindDefinition,
    object: KubeObject,
    states: Map<string, DeviceState>,
    problems: DeviceProblem[],
    selection?: WorkloadSelection,
    more: readonly Condition[] = [],
  ) {
    const summary = summarize(states);
    const previous = object.status as RolloutSummary | undefined;
    const generation = object.metadata.generation;
    const conditions = withTransitionTimes(
      rolloutConditions({ ...summary, problems, generation, selection }).concat(
        more.map((c) => ({ ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}) })),
      ),
      previous?.conditions as Condition[] | undefined,
      timestamp(options.now()),
    );
    // The schedule summary is the current one or none (a Workload that lost its spec.cron).
    const { cron: _previousCron, ...kept } = previous ?? {};
    const status: RolloutSummary = {
      ...kept,
      observedGeneration: object.metadata.generation,
      ...summary,
      conditions,
    };
    if (isDeepStrictEqual(previous, status)) return;
    await service.update(
      kind,
      object.metadata.namespace,
      object.metadata.name!,
      { ...object, status },
      { fieldManager: FIELD_MANAGER },
      'status',
    );
    told.conditions(object, previous?.conditions as Condition[] | undefined, conditions);
  }

  const evaluateOptions = (device: KubeObject, now: number) => ({
    now,
    progressDeadlineMs: options.progressDeadlineMs,
    unreachable: (device.status as Device['status'])?.phase === 'Unreachable',
  });

  const requeue = (states: Iterable<DeviceState>, now: number) => {
    let next = Number.POSITIVE_INFINITY;
    for (const state of states) if (state.recheckAt !== undefined) next = Math.min(next, state.recheckAt);
    return Number.isFinite(next) ? { requeueAfter: Math.max(1, next - now + 10) } : undefined;
  };

  return {
    name: 'placement-summary',
    async reconcile(key) {
      const colon = key.indexOf(':');
      const kind = key.slice(0, colon);
      const { namespace, name } = splitKey(key.slice(colon + 1));
      const now = options.now().getTime();
      const states = new Map<string, DeviceState>();
      const problems: DeviceProblem[] = [];
      if (kind === 'Placement') {
        const placement = informers.placements.get(namespace, name);
        if (!placement || placement.metadata.deletionTimestamp) {
          told.forget(key);
          return;
        }
        const workloads = selectedWorkloads(placement);
        const required = {
          placements: [`${namespace}/${name}`],
          workloads: workloads.map((w) => `${namespace}/${w.metadata.name}`),
        };
        const selector = (placement.spec as Placement['spec']).deviceSelector;
        const placesOn = (labels: Readonly<Record<string, string>> | undefined) =>
          selects(selector, labels) && bounds.allows(namespace!, labels);
        if (await anyStale(key, required, caches.devices.selectCached(selector), placesOn)) {
          return { requeueAfter: staleRecheckMs };
        }
        const devices: KubeObject[] = [];
        const outside: string[] = [];
        for (const device of matchedDevices((placement.spec as Placement['spec']).deviceSelector)) {
          if (bounds.allows(namespace!, device.metadata.labels)) devices.push(device);
          else outside.push(device.metadata.name!);
        }
        const excluded = bounds.condition(namespace!, outside);
        if (!(await allFresh(key, devices, required))) return { requeueAfter: staleRecheckMs };
        for (const device of devices) {
          const turn = yieldIfSliceUsed();
          if (turn) await turn;
          const mailbox = informers.mailboxes.get(undefined, device.metadata.name!) as Mailbox | undefined;
          const opts = evaluateOptions(device, now);
          const perWorkload = workloads.map((w) =>
            evaluateWorkload(mailbox, { namespace: namespace!, workload: w.metadata.name! }, opts),
          );
          states.set(device.metadata.name!, combineStates(perWorkload, opts.unreachable));
          for (const entry of mailbox?.spec?.excluded ?? []) {
            if (entry.source.namespace === namespace && entry.source.placement === name) {
              problems.push(problemOf(device, entry));
            }
          }
        }
        await write(placementKind, placement, states, problems, selectionOf(placement, workloads), [
          excluded,
        ]);
        told.failures(key, placement, states);
        return requeue(states.values(), now);
      }
      if (kind === 'Workload') {
        const workload = informers.workloads.get(namespace, name);
        if (!workload || workload.metadata.deletionTimestamp) {
          told.forget(key);
          return;
        }
        const placing = informers.placements
          .byIndex(NAMESPACE_INDEX, namespace!)
          .filter(
            (placement) =>
              !placement.metadata.deletionTimestamp &&
              selectedWorkloads(placement).some((w) => w.metadata.name === name),
          );
        const required = { placements: [], workloads: [`${namespace}/${name}`] };
        const placed = (labels: Readonly<Record<string, string>> | undefined) =>
          placing.some(
            (p) =>
              selects((p.spec as Placement['spec']).deviceSelector, labels) &&
              bounds.allows(namespace!, labels),
          );
        const candidates =
          placing.length === 1
            ? caches.devices.selectCached((placing[0]!.spec as Placement['spec']).deviceSelector)
            : [
                ...new Set(
                  placing.flatMap((p) =>
                    caches.devices.selectCached((p.spec as Placement['spec']).deviceSelector),
                  ),
                ),
              ];
        if (await anyStale(key, required, candidates, placed)) return { requeueAfter: staleRecheckMs };
        const devices = new Map<string, KubeObject>();
        for (const placement of placing) {
          for (const device of liveDevices(placement)) {
            devices.set(device.metadata.name!, device);
          }
        }
        // Not placed anywhere and never summarised by us: no status to keep up (nor to take from its writer).
        if (devices.size === 0 && !summarisedByUs(workload)) return;
        if (!(await allFresh(key, [...devices.values()], required))) return { requeueAfter: staleRecheckMs };
        for (const device of devices.values()) {
          const turn = yieldIfSliceUsed();
          if (turn) await turn;
          const mailbox = informers.mailboxes.get(undefined, device.metadata.name!) as Mailbox | undefined;
          const opts = evaluateOptions(device, now);
          states.set(
            device.metadata.name!,
            evaluateWorkload(mailbox, { namespace: namespace!, workload: name }, opts),
          );
          for (const entry of mailbox?.spec?.excluded ?? []) {
            if (entry.source.namespace === namespace && entry.source.workload === name) {
              problems.push(problemOf(device, entry));
            }
          }
        }
        await write(workloadKind, workload, states, problems);
        told.failures(key, workload, states);
        return requeue(states.values(), now);
      }
      return;
    },
  };
}

/** Whether this controller has written the object's status before (its managedFields say so). */
function summarisedByUs(object: KubeObject): boolean {
  return (object.metadata.managedFields ?? []).some((entry) => {
    const field = entry as { manager?: string; subresource?: string };
    return field.manager === FIELD_MANAGER && field.subresource === 'status';
  });
}

function problemOf(
  device: KubeObject,
  entry: NonNullable<NonNullable<Mailbox['spec']>['excluded']>[number],
): DeviceProblem {
  const ref = `${entry.ref.kind} ${entry.ref.name}`;
  return { device: device.metadata.name!, reason: entry.reason, message: `${ref}: ${entry.message}` };
}
