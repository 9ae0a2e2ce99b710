/**
 * Who an MQTT connection to the hub's broker is, and what each may do.
 *
 * - A device (its device certificate, over WebSocket or TLS): its own topics
 *   (topics.ts).
 * - A gateway's bridge (its bridge certificate, CN `outpost:gateway:<name>`,
 *   over TLS only): for every live device below the gateway, what that device
 *   may do (publish its telemetry, status and acks, subscribe and receive its
 *   commands), and nothing else: not its own topics, not a device elsewhere,
 *   not a decommissioned one.
 * - `system:masters` (debugging): anything.
 */
import type { DeviceParents } from './device-parents.ts';
import { devicePublishAllowed, deviceReceiveAllowed, deviceSubscribeAllowed } from './topics.ts';

/** An authenticated MQTT client. */
export type MqttPrincipal =
  | { readonly kind: 'device'; readonly name: string }
  | { readonly kind: 'gateway'; readonly name: string }
  | { readonly kind: 'masters' };

/** The device a topic or filter is about (`devices/<d>/...`), if it names one literally. */
function topicDevice(topic: string): string | undefined {
  const levels = topic.split('/', 3);
  const device = levels[1];
  if (levels[0] !== 'devices' || device === undefined || device === '' || device === '+' || device === '#')
    return undefined;
  return device;
}

/**
 * The device on whose behalf `principal` publishes on `topic`, when it may
 * (the device whose placements then decide whether the message goes on);
 * undefined when it may not. `null` for system:masters: anything, unchecked.
 */
export function publisherFor(
  principal: MqttPrincipal,
  topic: string,
  parents: DeviceParents,
): string | null | undefined {
  if (principal.kind === 'masters') return null;
  const device = principal.kind === 'device' ? principal.name : topicDevice(topic);
  if (device === undefined || !devicePublishAllowed(device, topic)) return undefined;
  if (principal.kind === 'gateway' && !parents.below(principal.name, device)) return undefined;
  return device;
}

/** Whether `principal` may subscribe to `filter`. */
export function subscribeAllowed(principal: MqttPrincipal, filter: string, parents: DeviceParents): boolean {
  if (principal.kind === 'masters') return true;
  if (principal.kind === 'device') return deviceSubscribeAllowed(principal.name, filter);
  const device = topicDevice(filter);
  return (
    device !== undefined && deviceSubscribeAllowed(device, filter) && parents.below(principal.name, device)
  );
}

/** Whether a message on `topic` may be delivered to `principal` (checked again as it is delivered). */
export function receiveAllowed(principal: MqttPrincipal, topic: string, parents: DeviceParents): boolean {
  if (principal.kind === 'masters') return true;
  if (principal.kind === 'device') return deviceReceiveAllowed(principal.name, topic);
  const device = topicDevice(topic);
  return device !== undefined && deviceReceiveAllowed(device, topic) && parents.below(principal.name, device);
}

/** The name a principal's MQTT client ids are prefixed with: each its own space of ids and sessions. */
export function clientIdPrefix(principal: MqttPrincipal): string | undefined {
  if (principal.kind === 'device') return `${principal.name}/`;
  if (principal.kind === 'gateway') return `gateway:${principal.name}/`;
  return undefined;
}
