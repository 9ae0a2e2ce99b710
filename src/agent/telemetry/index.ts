/**
 * Telemetry and commands on the device: a local MQTT endpoint for workloads
 * (local-broker.ts), a disk-backed FIFO of what goes to the hub (telemetry-outbox.ts,
 * segment.ts, segment-files.ts) and the MQTT-over-WebSocket connection to the hub that
 * empties it and brings commands back (uplink.ts), assembled by
 * `startAgentTelemetry` (telemetry.ts).
 */
export { type LocalBroker, type LocalBrokerOptions, startLocalBroker } from './local-broker.ts';
export { kindOfTopic, type MessageKind, type QueuedMessage } from './segment.ts';
export {
  type AgentTelemetry,
  type AgentTelemetryOptions,
  startAgentTelemetry,
} from './telemetry.ts';
export { TelemetryOutbox, type TelemetryOutboxOptions } from './telemetry-outbox.ts';
export { mqttUrlOf, Uplink, type UplinkOptions } from './uplink.ts';
