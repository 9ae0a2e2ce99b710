import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../../api/index.ts';
import type { CoalesceOptions, Controller, Manager } from '../../../controller/index.ts';
import type { EventSinks } from '../../events/index.ts';
import { kindOf } from '../support.ts';
import { BOUNDED_NAMESPACE_INDEX, boundedNamespaces, DeviceBounds } from './boundaries.ts';
import { createDeviceHealthReconciler } from './device-health.ts';
import { createMailboxReconciler, NAMESPACE_INDEX, type PlacementInformers } from './mailbox.ts';
import { createRolloutReconciler } from './rollout.ts';
import { PlacementCaches } from './state.ts';
import { createSummaryReconciler } from './summary.ts';
import { addIndexOnce, renderedSummaries, watchPlacementEvents } from './watches.ts';

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
  /**
   * Where the controllers tell what happened as Events: devices unreachable
   * and back, devices failing a Workload, conditions turning bad.
   * @default none
   */
  readonly events?: EventSinks;
  /**
   * Whether a namespace no DeviceBoundary names may place on no device
   * (instead of on any). @default false
   */
  readonly requireDeviceBounds?: boolean;
  /** How often a rollout in progress is looked at again without an event. @default 2000 */
  readonly rolloutRecheckMs?: number;
}

/** What {@link addPlacementControllers} set up, for tests and benchmarks. */
export interface PlacementControllers {
  readonly mailbox: Controller;
  readonly summary: Controller;
  readonly deviceHealth: Controller;
  readonly rollout: Controller;
  readonly informers: PlacementInformers;
  readonly caches: PlacementCaches;
  /** Whether nothing is queued, running, or waiting to be queued (delayed rechecks aside). */
  idle(): boolean;
}

/**
 * Summaries asked for by floods of events (a fan-out rendering thousands of
 * Mailboxes, thousands of agents reporting or coming online) are queued
 * together after 100 ms at least, so that a summary over 10,000 devices runs
 * a few times, not 10,000; and for ten times as long as the last summary
 * took, so that summaries, each over every device they count, take a bounded
 * share of the hub (a tenth) however large the fleet; a status lags by at
 * most 2 s.
 */
const SUMMARY_COALESCING: CoalesceOptions = { windowMs: 100, costFactor: 10, maxWindowMs: 2000 };

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
    boundaries: manager.informer(kindOf(service, 'DeviceBoundary')),
  };
  const byNamespace = (object: KubeObject) => [object.metadata.namespace ?? ''];
  addIndexOnce(informers.workloads, NAMESPACE_INDEX, byNamespace);
  addIndexOnce(informers.placements, NAMESPACE_INDEX, byNamespace);
  addIndexOnce(informers.boundaries, BOUNDED_NAMESPACE_INDEX, boundedNamespaces);
  const bounds = new DeviceBounds(informers.boundaries, options.requireDeviceBounds ?? false);
  const caches = new PlacementCaches();
  const writes = manager.metrics.counter(
    'outpost_mailbox_writes_total',
    'Mailbox writes by the placement controllers, by operation.',
  );

  const mailbox = manager.controller({
    reconciler: createMailboxReconciler({
      service,
      informers,
      caches,
      now,
      writes,
      bounds,
      onRendered: (_device, stamps, previous) => {
        if (previous && isDeepStrictEqual(previous, stamps)) return;
        for (const key of renderedSummaries(stamps)) summary.enqueueCoalesced(key);
        for (const key of renderedSummaries(previous)) summary.enqueueCoalesced(key);
      },
    }),
    workers: options.mailboxWorkers ?? 64,
  });
  const summary = manager.controller({
    reconciler: createSummaryReconciler({
      service,
      informers,
      caches,
      now,
      progressDeadlineMs: options.progressDeadlineMs ?? 300_000,
      events: options.events?.sink('outpost-placement'),
      bounds,
    }),
    workers: options.summaryWorkers ?? 2,
    coalesce: SUMMARY_COALESCING,
  });
  const deviceHealth = manager.controller({
    reconciler: createDeviceHealthReconciler({
      service,
      devices: informers.devices,
      now,
      // A test's manual clock drives heartbeat timing too.
      elapsed: options.now ? () => now().getTime() : undefined,
      events: options.events?.sink('outpost-device-health'),
    }),
    workers: options.deviceHealthWorkers ?? 4,
  });
  const rollout = manager.controller({
    reconciler: createRolloutReconciler({
      service,
      informers,
      caches,
      bounds,
      now,
      events: options.events?.sink('outpost-rollout'),
      ...(options.rolloutRecheckMs !== undefined ? { recheckMs: options.rolloutRecheckMs } : {}),
    }),
    workers: 2,
    coalesce: { windowMs: 100 },
  });
  // Every reconciler reads every cache: none starts before all of them synced.
  for (const informer of Object.values(informers)) {
    mailbox.reads(informer);
    summary.reads(informer);
    rollout.reads(informer);
  }
  watchPlacementEvents({ informers, caches, mailbox, summary, deviceHealth, rollout, bounds });

  const controllers = [mailbox, summary, deviceHealth, rollout];
  return {
    mailbox,
    summary,
    deviceHealth,
    rollout,
    informers,
    caches,
    idle: () =>
      controllers.every((c) => c.queue.length === 0 && c.queue.processing === 0 && c.queue.coalesced === 0),
  };
}
