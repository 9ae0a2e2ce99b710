import { isDeepStrictEqual } from 'node:util';
import type { KubeObject, Mailbox, Placement } from '../../api/index.ts';
import { type Controller, type Informer, keyOf, type Manager } from '../../controller/index.ts';
import { createDeviceHealthReconciler } from './device-health.ts';
import { createMailboxReconciler, kindOf, NAMESPACE_INDEX, type PlacementInformers } from './mailbox.ts';
import { PlacementCaches, type RenderStamps, selects, selectsWorkload } from './placement/index.ts';
import { createSummaryReconciler, summaryKey } from './summary.ts';

export interface PlacementControllersOptions {
  /** Wall-clock time (timestamps, progress deadlines, heartbeat expiry). @default () => new Date() */
  readonly now?: () => Date;
  /** How long a device may take to apply and run a change before it counts as failed. @default 300_000 */
  readonly progressDeadlineMs?: number;
  /** Mailbox reconciles at once: their writes of one event-loop turn share one commit. @default 64 */
  readonly mailboxWorkers?: number;
  /** @default 2 */
  readonly summaryWorkers?: number;
  /** @default 4 */
  readonly deviceHealthWorkers?: number;
}

/** What {@link addPlacementControllers} set up, for tests and benchmarks. */
export interface PlacementControllers {
  readonly mailbox: Controller;
  readonly summary: Controller;
  readonly deviceHealth: Controller;
  readonly informers: PlacementInformers;
  readonly caches: PlacementCaches;
  /** Whether nothing is queued, running, or waiting to be queued (delayed rechecks aside). */
  idle(): boolean;
}

/**
 * Summaries asked for by floods of events (a fan-out rendering thousands of
 * Mailboxes, thousands of agents reporting or coming online) are queued
 * together after this long at least, so that a summary over 10,000 devices
 * runs a few times, not 10,000 ...
 */
const SUMMARY_COALESCE_MS = 100;
/**
 * ... and at least this many times as long as the last summary took, so
 * that summaries, each over every device they count, take a bounded share of
 * the hub (a tenth) however large the fleet; a status lags by at most the cap.
 */
const SUMMARY_COALESCE_COST_FACTOR = 10;
const SUMMARY_COALESCE_MAX_MS = 2000;

const SOURCE_PLACEMENT_INDEX = 'placement:source-placement';
const SOURCE_WORKLOAD_INDEX = 'placement:source-workload';

/**
 * Adds the placement controllers to a manager: `mailbox` (one Mailbox per
 * device, keyed by device name), `placement-summary` (Placement and Workload
 * status) and `device-health`. Events are mapped to the keys they can affect
 * — a Placement's spec change to the devices it selects now or selected
 * before, a Device's label change to that device, an agent's status report to
 * the summaries of what runs there — and status-only writes (heartbeats,
 * summaries) never re-render Mailboxes.
 */
export function addPlacementControllers(
  manager: Manager,
  options: PlacementControllersOptions = {},
): PlacementControllers {
  const service = manager.client;
  const now = options.now ?? (() => new Date());
  const informers: PlacementInformers = {
    devices: manager.informer(kindOf(service, 'Device')),
    workloads: manager.informer(kindOf(service, 'Workload')),
    placements: manager.informer(kindOf(service, 'Placement')),
    mailboxes: manager.informer(kindOf(service, 'Mailbox')),
  };
  const byNamespace = (object: KubeObject) => [object.metadata.namespace ?? ''];
  addIndexOnce(informers.workloads, NAMESPACE_INDEX, byNamespace);
  addIndexOnce(informers.placements, NAMESPACE_INDEX, byNamespace);
  addIndexOnce(informers.mailboxes, SOURCE_PLACEMENT_INDEX, (m) =>
    sourcesOf(m).map((s) => `${s.namespace}/${s.placement}`),
  );
  addIndexOnce(informers.mailboxes, SOURCE_WORKLOAD_INDEX, (m) =>
    sourcesOf(m).map((s) => `${s.namespace}/${s.workload}`),
  );
  const caches = new PlacementCaches();
  const writes = manager.metrics.counter(
    'outpost_mailbox_writes_total',
    'Mailbox writes by the placement controllers, by operation.',
  );

  let summary: Controller | undefined;
  /** How long the last summary took (its store write included), which spaces the next ones out. */
  let lastSummaryMs = 0;
  const enqueueSummary = (kind: 'Placement' | 'Workload', namespace: string, name: string) =>
    summary?.enqueue(summaryKey(kind, namespace, name));
  const coalesced = new Set<string>();
  let flushTimer: NodeJS.Timeout | undefined;
  const enqueueSummarySoon = (kind: 'Placement' | 'Workload', namespace: string, name: string) => {
    coalesced.add(summaryKey(kind, namespace, name));
    const delay = Math.min(
      SUMMARY_COALESCE_MAX_MS,
      Math.max(SUMMARY_COALESCE_MS, SUMMARY_COALESCE_COST_FACTOR * lastSummaryMs),
    );
    flushTimer ??= setTimeout(() => {
      flushTimer = undefined;
      for (const key of coalesced) summary?.enqueue(key);
      coalesced.clear();
    }, delay);
    flushTimer.unref();
  };
  const enqueueStamped = (stamps: RenderStamps | undefined) => {
    for (const key of stamps?.keys() ?? []) {
      if (key === 'D' || key === 'M') continue;
      const [namespace, name] = key.slice(2).split('/') as [string, string];
      enqueueSummarySoon(key.startsWith('P:') ? 'Placement' : 'Workload', namespace, name);
    }
  };

  const mailbox = manager.controller({
    reconciler: createMailboxReconciler({
      service,
      informers,
      caches,
      now,
      writes,
      onRendered: (_device, stamps, previous) => {
        if (previous && isDeepStrictEqual(previous, stamps)) return;
        enqueueStamped(stamps);
        enqueueStamped(previous);
      },
    }),
    workers: options.mailboxWorkers ?? 64,
  });
  const summaryReconciler = createSummaryReconciler({
    service,
    informers,
    caches,
    now,
    progressDeadlineMs: options.progressDeadlineMs ?? 300_000,
  });
  summary = manager.controller({
    reconciler: {
      name: summaryReconciler.name,
      async reconcile(key, context) {
        const started = performance.now();
        try {
          return await summaryReconciler.reconcile(key, context);
        } finally {
          lastSummaryMs = performance.now() - started;
        }
      },
    },
    workers: options.summaryWorkers ?? 2,
  });
  const deviceHealth = manager.controller({
    reconciler: createDeviceHealthReconciler({
      service,
      devices: informers.devices,
      now,
      // A test's manual clock drives heartbeat timing too.
      elapsed: options.now ? () => now().getTime() : undefined,
    }),
    workers: options.deviceHealthWorkers ?? 4,
  });
  for (const informer of Object.values(informers)) {
    mailbox.reads(informer);
    summary.reads(informer);
  }
  deviceHealth.reads(informers.devices);

  /** Devices whose Mailbox may hold objects of a Placement or Workload, or should. */
  const devicesOfPlacement = (placement: KubeObject, into: Set<string>) => {
    for (const name of caches.devices.select(specOf(placement).deviceSelector)) into.add(name);
    for (const m of informers.mailboxes.byIndex(SOURCE_PLACEMENT_INDEX, keyOf(placement))) {
      into.add(m.metadata.name!);
    }
  };
  const placementsSelecting = (workload: KubeObject) =>
    informers.placements.byIndex(NAMESPACE_INDEX, workload.metadata.namespace ?? '').filter((p) =>
      selectsWorkload(specOf(p).workloadSelector, {
        name: workload.metadata.name!,
        labels: workload.metadata.labels,
      }),
    );
  /** Summaries that read a device: the Placements matching its labels and the Workloads in its Mailbox. */
  const enqueueDeviceSummaries = (name: string, labels: KubeObject['metadata']['labels']) => {
    const current = informers.mailboxes.get(undefined, name);
    for (const source of current ? sourcesOf(current) : []) {
      enqueueSummarySoon('Workload', source.namespace, source.workload);
      enqueueSummarySoon('Placement', source.namespace, source.placement);
    }
    for (const p of informers.placements.list()) {
      if (selects(specOf(p).deviceSelector, labels)) {
        enqueueSummarySoon('Placement', p.metadata.namespace!, p.metadata.name!);
        for (const w of informers.workloads.byIndex(NAMESPACE_INDEX, p.metadata.namespace!)) {
          if (
            selectsWorkload(specOf(p).workloadSelector, { name: w.metadata.name!, labels: w.metadata.labels })
          )
            enqueueSummarySoon('Workload', w.metadata.namespace!, w.metadata.name!);
        }
      }
    }
  };

  informers.devices.addEventHandler({
    onAdd(device) {
      const name = device.metadata.name!;
      caches.devices.set(name, device.metadata.labels);
      mailbox.enqueue(name);
      deviceHealth.enqueue(name);
      enqueueDeviceSummaries(name, device.metadata.labels);
    },
    onUpdate(old, device) {
      const name = device.metadata.name!;
      const resync = old === device;
      const parameters =
        !isDeepStrictEqual(old.metadata.labels, device.metadata.labels) ||
        !isDeepStrictEqual(old.metadata.annotations, device.metadata.annotations) ||
        old.metadata.deletionTimestamp !== device.metadata.deletionTimestamp ||
        old.metadata.uid !== device.metadata.uid;
      if (parameters) caches.devices.set(name, device.metadata.labels);
      if (parameters || resync) mailbox.enqueue(name);
      const before = (old.status ?? {}) as { phase?: string; lastHeartbeatTime?: string };
      const after = (device.status ?? {}) as { phase?: string; lastHeartbeatTime?: string };
      if (parameters || before.phase !== after.phase) {
        enqueueDeviceSummaries(name, old.metadata.labels);
        enqueueDeviceSummaries(name, device.metadata.labels);
      }
      const heartbeatMatters =
        resync ||
        old.metadata.generation !== device.metadata.generation ||
        before.phase !== after.phase ||
        (before.lastHeartbeatTime !== after.lastHeartbeatTime &&
          (before.lastHeartbeatTime === undefined || after.phase === 'Unreachable'));
      if (heartbeatMatters) deviceHealth.enqueue(name);
    },
    onDelete(device) {
      const name = device.metadata.name!;
      caches.devices.delete(name);
      mailbox.enqueue(name);
      enqueueDeviceSummaries(name, device.metadata.labels);
    },
  });

  const onPlacementChange = (old: KubeObject | undefined, placement: KubeObject, deleted: boolean) => {
    const namespace = placement.metadata.namespace!;
    enqueueSummary('Placement', namespace, placement.metadata.name!);
    const specChanged =
      !old ||
      deleted ||
      old === placement ||
      old.metadata.generation !== placement.metadata.generation ||
      old.metadata.deletionTimestamp !== placement.metadata.deletionTimestamp ||
      old.metadata.uid !== placement.metadata.uid;
    if (!specChanged) return;
    if (deleted) caches.forgetRenderers('Placement', namespace, placement.metadata.name!);
    const devices = new Set<string>();
    for (const p of old && old !== placement ? [old, placement] : [placement]) {
      devicesOfPlacement(p, devices);
      for (const w of informers.workloads.byIndex(NAMESPACE_INDEX, namespace)) {
        if (
          selectsWorkload(specOf(p).workloadSelector, { name: w.metadata.name!, labels: w.metadata.labels })
        )
          enqueueSummary('Workload', namespace, w.metadata.name!);
      }
    }
    for (const name of devices) mailbox.enqueue(name);
  };
  informers.placements.addEventHandler({
    onAdd: (placement) => onPlacementChange(undefined, placement, false),
    onUpdate: (old, placement) => onPlacementChange(old, placement, false),
    onDelete: (placement) => onPlacementChange(undefined, placement, true),
  });

  const onWorkloadChange = (old: KubeObject | undefined, workload: KubeObject, deleted: boolean) => {
    const namespace = workload.metadata.namespace!;
    const name = workload.metadata.name!;
    enqueueSummary('Workload', namespace, name);
    const changed =
      !old ||
      deleted ||
      old === workload ||
      old.metadata.generation !== workload.metadata.generation ||
      old.metadata.deletionTimestamp !== workload.metadata.deletionTimestamp ||
      old.metadata.uid !== workload.metadata.uid ||
      !isDeepStrictEqual(old.metadata.labels, workload.metadata.labels) ||
      old.metadata.creationTimestamp !== workload.metadata.creationTimestamp;
    if (!changed) return;
    if (deleted) caches.forgetRenderers('Workload', namespace, name);
    const devices = new Set<string>();
    for (const w of old && old !== workload ? [old, workload] : [workload]) {
      for (const p of placementsSelecting(w)) {
        enqueueSummary('Placement', namespace, p.metadata.name!);
        for (const device of caches.devices.select(specOf(p).deviceSelector)) devices.add(device);
      }
    }
    for (const m of informers.mailboxes.byIndex(SOURCE_WORKLOAD_INDEX, `${namespace}/${name}`)) {
      devices.add(m.metadata.name!);
    }
    for (const device of devices) mailbox.enqueue(device);
  };
  informers.workloads.addEventHandler({
    onAdd: (workload) => onWorkloadChange(undefined, workload, false),
    onUpdate: (old, workload) => onWorkloadChange(old, workload, false),
    onDelete: (workload) => onWorkloadChange(undefined, workload, true),
  });

  /** An agent's report changes the summaries of what runs there (enqueueDeviceSummaries covers it). */
  const onMailboxStatus = (m: KubeObject) => {
    const name = m.metadata.name!;
    for (const source of sourcesOf(m)) {
      enqueueSummarySoon('Workload', source.namespace, source.workload);
      enqueueSummarySoon('Placement', source.namespace, source.placement);
    }
    enqueueDeviceSummaries(name, caches.devices.labelsOf(name));
  };
  /** Whether a Mailbox event is our own write coming back (nothing to reconcile again). */
  const ownWrite = (m: KubeObject) =>
    caches.stampsOf(m.metadata.name!)?.get('M') === m.metadata.resourceVersion;
  informers.mailboxes.addEventHandler({
    onAdd(m) {
      if (!ownWrite(m)) mailbox.enqueue(m.metadata.name!);
    },
    onUpdate(old, m) {
      const specChanged =
        old === m ||
        old.metadata.generation !== m.metadata.generation ||
        old.metadata.deletionTimestamp !== m.metadata.deletionTimestamp ||
        !isDeepStrictEqual(old.metadata.ownerReferences, m.metadata.ownerReferences);
      if (old === m || (specChanged && !ownWrite(m))) mailbox.enqueue(m.metadata.name!);
      if (old !== m && !isDeepStrictEqual(old.status, m.status)) onMailboxStatus(m);
    },
    onDelete(m) {
      mailbox.enqueue(m.metadata.name!);
      onMailboxStatus(m);
    },
  });

  const controllers = [mailbox, summary, deviceHealth];
  return {
    mailbox,
    summary,
    deviceHealth,
    informers,
    caches,
    idle: () =>
      flushTimer === undefined && controllers.every((c) => c.queue.length === 0 && c.queue.processing === 0),
  };
}

function specOf(object: KubeObject): Partial<Placement['spec']> {
  return (object.spec ?? {}) as Partial<Placement['spec']>;
}

function sourcesOf(m: KubeObject): Array<{ namespace: string; workload: string; placement: string }> {
  const spec = m.spec as Mailbox['spec'];
  return [...(spec?.objects ?? []), ...(spec?.excluded ?? [])].map((entry) => entry.source);
}

function addIndexOnce(informer: Informer, name: string, fn: (object: KubeObject) => Iterable<string>): void {
  try {
    informer.addIndex(name, fn);
  } catch {
    // Added by an earlier call on the same shared informer.
  }
}
