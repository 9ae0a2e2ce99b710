import { isDeepStrictEqual } from 'node:util';
import {
  type Device,
  type KubeObject,
  type Mailbox,
  type Placement,
  type RolloutStatus,
  UPDATE_WINDOW_LABEL,
} from '../../../api/index.ts';
import {
  annotationsChanged,
  anyOf,
  type Controller,
  generationChanged,
  type IndexFunction,
  type Informer,
  keyOf,
  labelsChanged,
  lifecycleChanged,
  type Predicate,
  updateWhen,
} from '../../../controller/index.ts';
import { boundedNamespaces, type DeviceBounds } from './boundaries.ts';
import { batchPlanOf, NAMESPACE_INDEX, type PlacementInformers } from './mailbox.ts';
import { revisionOfDevice, rolloutSpecOf, rolloutStatusOf } from './rollout-plan.ts';
import { selects, selectsWorkload } from './selection.ts';
import type { PlacementCaches, RenderStamps } from './state.ts';
import { summaryKey } from './summary.ts';

/** The informer index of Mailboxes by the Placements (`namespace/name`) whose objects they hold. */
export const SOURCE_PLACEMENT_INDEX = 'placement:source-placement';
/** The informer index of Mailboxes by the Workloads (`namespace/name`) whose objects they hold. */
export const SOURCE_WORKLOAD_INDEX = 'placement:source-workload';

/** What the placement watches feed. */
export interface PlacementWatchTargets {
  readonly informers: PlacementInformers;
  readonly caches: PlacementCaches;
  readonly mailbox: Controller;
  readonly summary: Controller;
  readonly deviceHealth: Controller;
  readonly rollout: Controller;
  /** Which devices each namespace may place on (for the rollout plan); absent: every device re-checked on a batch move. */
  readonly bounds?: DeviceBounds;
}

/** A Device change that rendering reads (labels, annotations, profiles) or that removes or replaces it. */
const deviceParameters = anyOf(
  labelsChanged,
  annotationsChanged,
  lifecycleChanged,
  updateWhen((old, device) => !isDeepStrictEqual(profilesOf(old), profilesOf(device))),
  updateWhen((old, device) => !isDeepStrictEqual(updateWindowOf(old), updateWindowOf(device))),
);
/** A Placement change that can change what it places where. */
const placementSpec = anyOf(generationChanged, lifecycleChanged);
/** A Workload change that can change its objects or which Placements select it and in what order. */
const workloadSpec = anyOf(
  generationChanged,
  lifecycleChanged,
  labelsChanged,
  updateWhen((old, workload) => old.metadata.creationTimestamp !== workload.metadata.creationTimestamp),
);

/**
 * Maps the placement informers' events to the keys they can affect, narrowly:
 * status-only writes (heartbeats, summaries, agents' reports) never re-render
 * Mailboxes; a Placement's or Workload's spec or label change enqueues the
 * devices it selects now or selected before and those whose Mailbox holds its
 * objects; a Device's parameter change enqueues that device; an agent's
 * report enqueues the summaries of what runs there. Summaries asked for by
 * floods (device and Mailbox events, renders) go through the summary
 * controller's coalescing window; those of a Placement or Workload event are
 * queued at once. A DeviceBoundary's change enqueues the devices and
 * summaries of its namespaces' Placements. Also keeps `caches` current (the device label index,
 * renderers of deleted Placements and Workloads).
 */
export function watchPlacementEvents(targets: PlacementWatchTargets): void {
  const { informers, caches, mailbox, summary, deviceHealth, rollout } = targets;
  addIndexOnce(informers.mailboxes, SOURCE_PLACEMENT_INDEX, (m) =>
    sourcesOf(m).map((s) => `${s.namespace}/${s.placement}`),
  );
  addIndexOnce(informers.mailboxes, SOURCE_WORKLOAD_INDEX, (m) =>
    sourcesOf(m).map((s) => `${s.namespace}/${s.workload}`),
  );

  /** The devices of a Placement whose revision differs between two of its rollout statuses. */
  const rolloutMoved = (old: KubeObject, p: KubeObject): string[] => {
    const before = rolloutStatusOf(old);
    const after = rolloutStatusOf(p);
    const spec = rolloutSpecOf(p);
    if (
      !before ||
      !after ||
      !spec ||
      !targets.bounds ||
      old.metadata.generation !== p.metadata.generation ||
      (before.phase === 'RolledBack') !== (after.phase === 'RolledBack')
    )
      return devicesOf(p);
    const bounds = targets.bounds;
    const plan = batchPlanOf(p, spec, caches, bounds);
    const moved: string[] = [];
    for (const device of plan.batchOf.keys())
      if (revisionOfDevice(before, plan, device) !== revisionOfDevice(after, plan, device))
        moved.push(device);
    return moved;
  };
  /** Devices whose Mailbox may hold objects of a Placement, or should. */
  const devicesOf = (placement: KubeObject): string[] => [
    ...caches.devices.select(specOf(placement).deviceSelector),
    ...informers.mailboxes.byIndex(SOURCE_PLACEMENT_INDEX, keyOf(placement)).map((m) => m.metadata.name!),
  ];
  const workloadsSelectedBy = (placement: KubeObject): KubeObject[] =>
    informers.workloads
      .byIndex(NAMESPACE_INDEX, placement.metadata.namespace!)
      .filter((w) => selectsWorkload(specOf(placement).workloadSelector, workloadShape(w)));
  const placementsSelecting = (workload: KubeObject): KubeObject[] =>
    informers.placements
      .byIndex(NAMESPACE_INDEX, workload.metadata.namespace ?? '')
      .filter((p) => selectsWorkload(specOf(p).workloadSelector, workloadShape(workload)));
  /** Summaries that read a device: the Placements matching its labels, their Workloads, and what its Mailbox holds. */
  function* deviceSummaries(name: string, labels: KubeObject['metadata']['labels']): Generator<string> {
    const current = informers.mailboxes.get(undefined, name);
    if (current) yield* sourceSummaries(current);
    for (const p of informers.placements.list()) {
      if (!selects(specOf(p).deviceSelector, labels)) continue;
      yield summaryKey('Placement', p.metadata.namespace!, p.metadata.name!);
      for (const w of workloadsSelectedBy(p))
        yield summaryKey('Workload', w.metadata.namespace!, w.metadata.name!);
    }
  }

  // Caches first: the watches below read them.
  informers.devices.addEventHandler({
    onAdd: (device) => caches.devices.set(device.metadata.name!, device.metadata.labels),
    onUpdate(old, device) {
      if (old !== device && deviceParameters.update(old, device))
        caches.devices.set(device.metadata.name!, device.metadata.labels);
    },
    onDelete: (device) => caches.devices.delete(device.metadata.name!),
  });
  informers.placements.addEventHandler({
    onDelete: (p) => caches.forgetRenderers('Placement', p.metadata.namespace!, p.metadata.name!),
  });
  informers.workloads.addEventHandler({
    onDelete: (w) => caches.forgetRenderers('Workload', w.metadata.namespace!, w.metadata.name!),
  });

  mailbox.watch(informers.devices, { predicates: [deviceParameters] });
  deviceHealth.watch(informers.devices, { predicates: [heartbeatMatters] });
  summary.watch(informers.devices, {
    map: (device) => deviceSummaries(device.metadata.name!, device.metadata.labels),
    predicates: [
      {
        update: (old, device) =>
          old !== device && (deviceParameters.update(old, device) || phaseOf(old) !== phaseOf(device)),
      },
    ],
    coalesce: true,
  });

  summary.watch(informers.placements, {
    map: (p) => [summaryKey('Placement', p.metadata.namespace!, p.metadata.name!)],
  });
  summary.watch(informers.placements, {
    map: (p) =>
      workloadsSelectedBy(p).map((w) => summaryKey('Workload', w.metadata.namespace!, w.metadata.name!)),
    predicates: [placementSpec],
  });
  mailbox.watch(informers.placements, { map: devicesOf, predicates: [placementSpec] });
  // The rollout controller moved a batch, admitted devices or rolled back: only the devices whose
  // revision changed are recomposed (at 10,000 devices, re-checking the 9,000 others of a batch
  // move is most of its cost); every device when the window, the spec or the plan may differ.
  informers.placements.addEventHandler({
    onUpdate: (old, p) => {
      if (old === p || rolloutAssignment(old) === rolloutAssignment(p)) return;
      for (const device of rolloutMoved(old, p)) mailbox.enqueue(device);
    },
  });
  // Rollouts: the Placement itself (spec, approval, its own status), the Workloads it places, and
  // the agents' reports on its devices (coalesced: a batch reports together).
  rollout.watch(informers.placements);
  // A device choosing another update window by label: the Placements with a rollout list the names none defines.
  rollout.watch(informers.devices, {
    map: () =>
      informers.placements
        .list()
        .filter((p) => rolloutSpecOf(p) !== undefined)
        .map(keyOf),
    predicates: [
      {
        add: (d) => d.metadata.labels?.[UPDATE_WINDOW_LABEL] !== undefined,
        update: (old, d) =>
          old.metadata.labels?.[UPDATE_WINDOW_LABEL] !== d.metadata.labels?.[UPDATE_WINDOW_LABEL],
        delete: (d) => d.metadata.labels?.[UPDATE_WINDOW_LABEL] !== undefined,
      },
    ],
    coalesce: true,
  });
  rollout.watch(informers.workloads, {
    map: (w) => placementsSelecting(w).map(keyOf),
    predicates: [workloadSpec],
  });
  rollout.watch(informers.mailboxes, {
    map: (m) => [...new Set(sourcesOf(m).map((s) => `${s.namespace}/${s.placement}`))],
    predicates: [
      { add: () => false, update: (old, m) => old !== m && !isDeepStrictEqual(old.status, m.status) },
    ],
    mapOld: false,
    coalesce: true,
  });

  summary.watch(informers.workloads, {
    map: (w) => [summaryKey('Workload', w.metadata.namespace!, w.metadata.name!)],
  });
  // Also the Placements naming it without selecting it: their WorkloadsFound condition names it.
  const placementsNaming = (workload: KubeObject): KubeObject[] =>
    informers.placements
      .byIndex(NAMESPACE_INDEX, workload.metadata.namespace ?? '')
      .filter(
        (p) =>
          specOf(p).workloadSelector?.names?.includes(workload.metadata.name!) ||
          selectsWorkload(specOf(p).workloadSelector, workloadShape(workload)),
      );
  summary.watch(informers.workloads, {
    map: (w) =>
      placementsNaming(w).map((p) => summaryKey('Placement', p.metadata.namespace!, p.metadata.name!)),
    predicates: [workloadSpec],
  });
  mailbox.watch(informers.workloads, {
    map: (w) => [
      ...placementsSelecting(w).flatMap((p) => caches.devices.select(specOf(p).deviceSelector)),
      ...informers.mailboxes.byIndex(SOURCE_WORKLOAD_INDEX, keyOf(w)).map((m) => m.metadata.name!),
    ],
    predicates: [workloadSpec],
  });

  // A DeviceBoundary's change (or creation, or removal) moves the devices its namespaces' Placements
  // select: their devices now and before (the Mailboxes holding their objects), and their summaries.
  const boundedPlacements = (boundary: KubeObject): KubeObject[] =>
    boundedNamespaces(boundary).flatMap((ns) => informers.placements.byIndex(NAMESPACE_INDEX, ns));
  mailbox.watch(informers.boundaries, {
    map: (boundary) => boundedPlacements(boundary).flatMap(devicesOf),
    predicates: [placementSpec],
  });
  summary.watch(informers.boundaries, {
    map: function* (boundary) {
      for (const p of boundedPlacements(boundary)) {
        yield summaryKey('Placement', p.metadata.namespace!, p.metadata.name!);
        for (const w of workloadsSelectedBy(p))
          yield summaryKey('Workload', w.metadata.namespace!, w.metadata.name!);
      }
    },
    predicates: [placementSpec],
  });

  /** Whether a Mailbox event is our own write coming back (nothing to reconcile again). */
  const ownWrite = (m: KubeObject) =>
    caches.stampsOf(m.metadata.name!)?.mailbox === m.metadata.resourceVersion;
  mailbox.watch(informers.mailboxes, {
    predicates: [
      {
        add: (m) => !ownWrite(m),
        update: (old, m) => old === m || (mailboxSpecChanged(old, m) && !ownWrite(m)),
      },
    ],
  });
  // An agent's report changes the summaries of what runs there.
  summary.watch(informers.mailboxes, {
    map: function* (m) {
      yield* sourceSummaries(m);
      yield* deviceSummaries(m.metadata.name!, caches.devices.labelsOf(m.metadata.name!));
    },
    predicates: [
      { add: () => false, update: (old, m) => old !== m && !isDeepStrictEqual(old.status, m.status) },
    ],
    mapOld: false,
    coalesce: true,
  });
}

/** The summaries a render touched: those of the Placements and Workloads it was made from. */
export function* renderedSummaries(stamps: RenderStamps | undefined): Generator<string> {
  for (const key of stamps?.placements.keys() ?? []) yield summaryKey('Placement', ...splitNamespaced(key));
  for (const key of stamps?.workloads.keys() ?? []) yield summaryKey('Workload', ...splitNamespaced(key));
}

/** Device updates device-health must look at: heartbeats starting or after Unreachable, phase or spec changes. */
const heartbeatMatters: Predicate = {
  update(old, device) {
    const before = (old.status ?? {}) as NonNullable<Device['status']>;
    const after = (device.status ?? {}) as NonNullable<Device['status']>;
    return (
      old === device ||
      old.metadata.generation !== device.metadata.generation ||
      before.phase !== after.phase ||
      (before.lastHeartbeatTime !== after.lastHeartbeatTime &&
        (before.lastHeartbeatTime === undefined || after.phase === 'Unreachable'))
    );
  },
  delete: () => false,
};

/** Adds an index to a shared informer unless an earlier call added it. */
export function addIndexOnce(informer: Informer, name: string, fn: IndexFunction): void {
  try {
    informer.addIndex(name, fn);
  } catch {
    // Added by an earlier call on the same shared informer.
  }
}

/** Summaries of the Workloads and Placements whose objects a Mailbox holds. */
function* sourceSummaries(m: KubeObject): Generator<string> {
  for (const source of sourcesOf(m)) {
    yield summaryKey('Workload', source.namespace, source.workload);
    yield summaryKey('Placement', source.namespace, source.placement);
  }
}

/** Where the objects a Mailbox holds (or left out) come from. */
function sourcesOf(m: KubeObject): Array<{ namespace: string; workload: string; placement: string }> {
  const spec = m.spec as Mailbox['spec'];
  return [...(spec?.objects ?? []), ...(spec?.excluded ?? [])].map((entry) => entry.source);
}

/** What decides which revision each device of a Placement holds (its rollout status, revisions aside from their numbers). */
function rolloutAssignment(p: KubeObject): string {
  const r = (p.status as { rollout?: RolloutStatus } | undefined)?.rollout;
  if (!r) return '';
  const admitted = r.admitted ? JSON.stringify(r.admitted) : '';
  return `${r.phase === 'RolledBack'}/${r.currentRevision}/${r.updateRevision}/${r.releasedBatches}/${r.revisions.map((x) => x.revision).join(',')}/${admitted}`;
}

function mailboxSpecChanged(old: KubeObject, m: KubeObject): boolean {
  return (
    old.metadata.generation !== m.metadata.generation ||
    old.metadata.deletionTimestamp !== m.metadata.deletionTimestamp ||
    !isDeepStrictEqual(old.metadata.ownerReferences, m.metadata.ownerReferences)
  );
}

function phaseOf(device: KubeObject): string | undefined {
  return (device.status as Device['status'])?.phase;
}

function specOf(object: KubeObject): Partial<Placement['spec']> {
  return (object.spec ?? {}) as Partial<Placement['spec']>;
}

function workloadShape(workload: KubeObject) {
  return { name: workload.metadata.name!, labels: workload.metadata.labels };
}

function splitNamespaced(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function profilesOf(device: KubeObject): unknown {
  return (device.spec as Device['spec'])?.profiles;
}

function updateWindowOf(device: KubeObject): unknown {
  return (device.spec as Device['spec'])?.updateWindow;
}
