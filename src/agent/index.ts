/**
 * The edge agent: enrollment (enrollment/), its HTTPS client for the hub
 * (hub-client/), an informer on its own Mailbox with a durable local copy
 * (sync.ts), a level-triggered unit reconciler against a `Runtime`
 * (reconcile/, runtime/), heartbeats and a durable report outbox sent in
 * order, once (reports/), `outpost logs` answered from the device
 * (log-server.ts), the local MQTT endpoint forwarding telemetry to the hub
 * (telemetry/), assembled by `runAgent` (agent.ts); a device the hub
 * decommissioned removes its workloads and credentials (decommission.ts).
 */
export { type AgentOptions, runAgent } from './agent.ts';
export { Backoff, type BackoffOptions, RECONNECT_BACKOFF, reconnectBackoff } from './backoff.ts';
export { DecommissionedError } from './decommission.ts';
export {
  checkProxyUrl,
  DeviceDecommissionedError,
  HubApi,
  HubDispatcher,
  HubStatusError,
  HubUnreachableError,
  hubRequest,
} from './hub-client/index.ts';
export { LogServer, type LogServerOptions } from './log-server.ts';
export {
  DEFAULT_RESERVE_DISK,
  DEFAULT_RESERVE_MEMORY,
  evictionOrder,
  parseReserve,
  type Reserve,
} from './policy/index.ts';
export { desiredStateOf, ROOTLESS_ANNOTATION } from './reconcile/index.ts';
export { ReportOutbox, type ReportOutboxEntry } from './reports/index.ts';
export { loadLocalMailbox, MailboxSync } from './sync.ts';
export {
  type AgentTelemetry,
  startAgentTelemetry,
  TelemetryOutbox,
  type TelemetryOutboxOptions,
} from './telemetry/index.ts';
