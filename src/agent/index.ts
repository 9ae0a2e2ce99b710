/**
 * The edge agent: enrollment (enrollment/), an informer on its own Mailbox
 * with a durable local copy (sync.ts), a level-triggered reconciler against
 * a `Runtime` (reconcile.ts, runtime/), heartbeats (heartbeat.ts) and a
 * durable outbox sent in order, once (outbox.ts, reporter.ts), the local
 * MQTT endpoint forwarding telemetry to the hub (telemetry/), assembled by
 * `runAgent` (agent.ts).
 */
export { type AgentOptions, runAgent } from './agent.ts';
export { Backoff, type BackoffOptions } from './backoff.ts';
export { desiredStateOf, ROOTLESS_ANNOTATION } from './desired.ts';
export {
  HubApi,
  HubDispatcher,
  HubStatusError,
  HubUnreachableError,
  hubRequest,
} from './hub-client/index.ts';
export { LogServer, type LogServerOptions } from './log-server.ts';
export { Outbox, type OutboxEntry } from './outbox.ts';
export { loadLocalMailbox, MailboxSync } from './sync.ts';
export {
  type AgentTelemetry,
  startAgentTelemetry,
  TelemetryOutbox,
  type TelemetryOutboxOptions,
} from './telemetry/index.ts';
