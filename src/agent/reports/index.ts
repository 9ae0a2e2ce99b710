/**
 * What the agent reports to the hub, and how it gets there: every Mailbox
 * and Device status goes first into a durable, bounded, ordered outbox
 * (report-outbox.ts), which one sender empties in order, once
 * (reporter.ts); heartbeats append a full Device status every period
 * (heartbeat.ts). Telemetry has its own outbox (telemetry/).
 */
export { type DeviceStatusReport, Heartbeat, type HeartbeatOptions } from './heartbeat.ts';
export {
  type ReportKind,
  ReportOutbox,
  type ReportOutboxEntry,
  type ReportOutboxOptions,
} from './report-outbox.ts';
export { Reporter, type ReporterOptions } from './reporter.ts';
