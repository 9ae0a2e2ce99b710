import type { Device, KubeObject, OpcUaConnectorSpec } from '../../../api/index.ts';
import type { Informer } from '../../../controller/index.ts';
import type { ConnectorTelemetry } from '../../telemetry/index.ts';
import { selects } from '../placement/index.ts';
import { timestamp } from '../support.ts';
import type { Connection } from './status.ts';

/** The error of a device the hub marked Unreachable (not the connector's word). */
export const UNREACHABLE_ERROR = 'device unreachable';
/** The error of a device whose connector has said nothing yet (not the connector's word). */
export const NO_STATUS_ERROR = 'no status reported yet';

/**
 * Per device the connector selects (live, from `devices`' cache), what the
 * connector there last reported to the hub's latest-value table: connected
 * or not and why, and when its last value came. A device the hub marked
 * Unreachable counts as not connected. Undefined without a table.
 */
export function connectionsOf(
  connector: KubeObject,
  telemetry: ConnectorTelemetry | undefined,
  devices: Informer,
): Connection[] | undefined {
  if (!telemetry) return undefined;
  const states = new Map(
    telemetry
      .connectorDevices(connector.metadata.namespace!, connector.metadata.name!)
      .map((s) => [s.device, s]),
  );
  const selector = (connector.spec as OpcUaConnectorSpec).devices;
  const connections: Connection[] = [];
  for (const device of devices.list()) {
    if (device.metadata.deletionTimestamp || !selects(selector, device.metadata.labels)) continue;
    const name = device.metadata.name!;
    const state = states.get(name);
    const unreachable = (device.status as Device['status'])?.phase === 'Unreachable';
    // The last status message says; without one (a hub restarted since), values arriving say
    // connected: a connector publishes only while connected to its server.
    const saysConnected = state?.status?.connected ?? state?.lastValueAt !== undefined;
    const error = unreachable
      ? UNREACHABLE_ERROR
      : (state?.status?.error ?? (state?.status || saysConnected ? undefined : NO_STATUS_ERROR));
    connections.push({
      device: name,
      connected: !unreachable && saysConnected,
      ...(error === undefined ? {} : { error }),
      ...(state?.lastValueAt === undefined ? {} : { lastValueTime: timestamp(new Date(state.lastValueAt)) }),
    });
  }
  return connections;
}
