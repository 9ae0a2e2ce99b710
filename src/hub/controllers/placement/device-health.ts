import { isDeepStrictEqual } from 'node:util';
import type { Device, KubeObject } from '../../../api/index.ts';
import type { Client, Informer, Reconciler } from '../../../controller/index.ts';
import { type EventSink, NO_EVENTS } from '../../events/index.ts';
import { kindOf, timestamp } from '../support.ts';

/** Heartbeats missed before a device counts as unreachable. */
export const MISSED_HEARTBEATS = 3;
/** The heartbeat period when the Device does not set one. */
export const DEFAULT_HEARTBEAT_SECONDS = 15;

export interface DeviceHealthOptions {
  readonly service: Client;
  readonly devices: Informer;
  /** Wall-clock time, for condition timestamps. */
  readonly now: () => Date;
  /**
   * A monotonic clock in milliseconds, on which heartbeats are timed.
   * @default performance.now
   */
  readonly elapsed?: () => number;
  /** Where `Unreachable` (Warning) and `Online` (Normal) Events go. @default none */
  readonly events?: EventSink;
}

type Condition = NonNullable<NonNullable<Device['status']>['conditions']>[number];

/**
 * The device-health reconciler, keyed by device name: a Device whose last
 * heartbeat is older than three heartbeat periods (`spec.heartbeat.periodSeconds`,
 * 15 s by default) becomes `Unreachable` with `Ready=False`
 * (`HeartbeatTimeout`); an Unreachable device whose heartbeats resumed becomes
 * `Online` with `Ready=True`. Otherwise it asks to be reconciled again at the
 * moment the heartbeat would expire, so expiry is noticed without any event.
 * Devices that never sent a heartbeat, and Pending ones (awaiting approval),
 * are left alone.
 *
 * A heartbeat is timed from when this controller saw `lastHeartbeatTime`
 * change, on its own monotonic clock, never from the time the device wrote
 * (as Kubernetes' node lifecycle controller does): a device whose clock is a
 * day behind would otherwise look dead while its heartbeats arrive, and one a
 * day ahead would look alive for a day after it died. A controller that just
 * started (a new leader) gives every device one full timeout.
 *
 * Each transition is also an Event on the Device: `Unreachable` (Warning,
 * how long it has been silent) when it writes it, and `Online` (Normal) when
 * heartbeats resume — whoever wrote the phase back, since the agent's first
 * heartbeat after an outage says `Online` itself.
 */
export function createDeviceHealthReconciler(options: DeviceHealthOptions): Reconciler {
  const deviceKind = kindOf(options.service, 'Device');
  const elapsed = options.elapsed ?? (() => performance.now());
  const events = options.events ?? NO_EVENTS;
  /** Per device, the last heartbeat seen and when (on `elapsed`). */
  const seen = new Map<string, { heartbeat: string; at: number }>();
  /**
   * Devices seen Unreachable and not yet back: the agent's first heartbeat
   * after an outage writes `Online` itself, so "back" is told from this,
   * not from a write of ours.
   */
  const away = new Set<string>();
  return {
    name: 'device-health',
    async reconcile(name) {
      const device = options.devices.get(undefined, name);
      if (!device || device.metadata.deletionTimestamp) {
        seen.delete(name);
        away.delete(name);
        return;
      }
      const status = (device.status ?? {}) as NonNullable<Device['status']>;
      if (!status.lastHeartbeatTime || status.phase === 'Pending') return;
      const periodSeconds =
        (device.spec as Device['spec'])?.heartbeat?.periodSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
      const timeoutMs = MISSED_HEARTBEATS * periodSeconds * 1000;
      const clock = elapsed();
      let last = seen.get(name);
      if (last?.heartbeat !== status.lastHeartbeatTime) {
        last = { heartbeat: status.lastHeartbeatTime, at: clock };
        seen.set(name, last);
      }
      const now = options.now();
      const expiresAt = last.at + timeoutMs;
      const expired = !(clock < expiresAt);
      let next: NonNullable<Device['status']> | undefined;
      let event: Parameters<EventSink['record']> | undefined;
      if (status.phase === 'Unreachable') away.add(name);
      if (expired && status.phase !== 'Unreachable') {
        const silent = Math.round((clock - last.at) / 1000);
        const message = `no heartbeat for ${silent} s (${MISSED_HEARTBEATS} periods of ${periodSeconds} s)`;
        next = withReady({ ...status, phase: 'Unreachable' }, now, {
          status: 'False',
          reason: 'HeartbeatTimeout',
          message,
        });
        // Without the measured silence, so that each outage tells the same message (aggregated).
        const said = `device ${name} is unreachable: no heartbeat in ${MISSED_HEARTBEATS} periods of ${periodSeconds} s`;
        event = [device, 'Warning', 'Unreachable', said, 'Heartbeat'];
      } else if (!expired && away.has(name)) {
        if (status.phase === 'Unreachable') {
          next = withReady({ ...status, phase: 'Online' }, now, {
            status: 'True',
            reason: 'HeartbeatReceived',
            message: 'heartbeats arrive',
          });
        }
        event = [device, 'Normal', 'Online', `device ${name} is back: heartbeats arrive again`, 'Heartbeat'];
      }
      if (next && !isDeepStrictEqual(next, status)) {
        await options.service.update(
          deviceKind,
          undefined,
          name,
          { ...device, status: next } as KubeObject,
          { fieldManager: 'outpost-device-health' },
          'status',
        );
      }
      // Told once the transition is written (a write that failed is retried, and told then).
      if (event) {
        if (event[2] === 'Unreachable') away.add(name);
        else away.delete(name);
        events.record(...event);
      }
      // Look again when the heartbeat expires (plus a little, so the comparison is past it).
      return expired ? undefined : { requeueAfter: expiresAt - clock + 50 };
    },
  };
}

function withReady(
  status: NonNullable<Device['status']>,
  now: Date,
  ready: Pick<Condition, 'status' | 'reason' | 'message'>,
): NonNullable<Device['status']> {
  const conditions = (status.conditions ?? []).filter((c) => c.type !== 'Ready');
  const before = status.conditions?.find((c) => c.type === 'Ready');
  const lastTransitionTime =
    before && before.status === ready.status && before.lastTransitionTime
      ? before.lastTransitionTime
      : timestamp(now);
  return { ...status, conditions: [...conditions, { type: 'Ready', ...ready, lastTransitionTime }] };
}
