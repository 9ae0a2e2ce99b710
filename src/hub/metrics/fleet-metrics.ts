/**
 * What an operator watches of the fleet, computed when scraped from what the
 * hub holds in memory anyway: the controllers' caches of Devices and
 * Mailboxes (on the replica leading the controllers only: the others report
 * no fleet series, so sums over replicas stay right), among them the
 * certificate expiry the hub records on each Device's status, and the
 * telemetry counts.
 */
import { Counter, Gauge } from 'prom-client';
import type { KubeObject } from '../../api/index.ts';
import type { HubMetrics } from './hub-metrics.ts';

/** Where the fleet series come from. */
export interface FleetSources {
  /** The synced caches of the leading controllers; undefined on a replica that does not lead them. */
  readonly caches: () =>
    | { devices: readonly KubeObject[]; mailboxes: readonly KubeObject[]; placements?: readonly KubeObject[] }
    | undefined;
  /** Upward MQTT messages this replica accepted, and those dropped (workload not placed on the device). */
  readonly telemetry: () => { readonly messages: number; readonly dropped: number };
}

/** Label of Devices without a `site` label. */
const NO_SITE = '';

/** Registers the fleet series on `metrics`' registry. */
export function registerFleetMetrics(metrics: HubMetrics, sources: FleetSources): void {
  const registers = [metrics.registry];
  new Gauge({
    name: 'outpost_devices',
    help: 'Devices by phase (Pending, Online, Unreachable; Unknown before the first report) and site label (leader only).',
    labelNames: ['phase', 'site'],
    registers,
    collect() {
      this.reset();
      const caches = sources.caches();
      if (!caches) return;
      for (const device of caches.devices) {
        const phase = (device.status as { phase?: string } | undefined)?.phase ?? 'Unknown';
        this.inc({ phase, site: device.metadata.labels?.site ?? NO_SITE });
      }
    },
  });
  new Gauge({
    name: 'outpost_agent_report_outbox_entries',
    help: 'Status reports queued on devices for the hub, as their last heartbeats said, summed by site (leader only).',
    labelNames: ['site'],
    registers,
    collect() {
      sumBySite(this, sources, 'outboxEntries');
    },
  });
  new Gauge({
    name: 'outpost_agent_telemetry_outbox_messages',
    help: 'Telemetry messages queued on devices for the hub, as their last heartbeats said, summed by site (leader only).',
    labelNames: ['site'],
    registers,
    collect() {
      sumBySite(this, sources, 'telemetryOutboxMessages');
    },
  });
  new Gauge({
    name: 'outpost_mailboxes_unacknowledged',
    help: 'Mailboxes whose agent has not yet acknowledged the latest generation (status.observedGeneration behind metadata.generation; leader only).',
    registers,
    collect() {
      this.reset();
      const caches = sources.caches();
      if (caches) this.set(caches.mailboxes.filter((mailbox) => lag(mailbox) > 0).length);
    },
  });
  new Gauge({
    name: 'outpost_mailbox_delivery_lag_generations',
    help: 'The most generations any Mailbox is ahead of what its agent acknowledged (leader only).',
    registers,
    collect() {
      this.reset();
      const caches = sources.caches();
      if (caches) this.set(caches.mailboxes.reduce((most, mailbox) => Math.max(most, lag(mailbox)), 0));
    },
  });
  new Gauge({
    name: 'outpost_device_certificate_expiry_timestamp_seconds',
    help: "When the soonest-expiring device certificate expires (Unix time), and its device, from the Devices' status.certificate.notAfter (leader only).",
    labelNames: ['device'],
    registers,
    collect() {
      this.reset();
      const caches = sources.caches();
      const soonest = caches && soonestCertificateExpiry(caches.devices);
      if (soonest) this.set({ device: soonest.device }, Math.floor(soonest.notAfter / 1000));
    },
  });
  new Counter({
    name: 'outpost_telemetry_messages_total',
    help: 'Telemetry, status and ack messages from devices this replica took in (rate() for messages per second).',
    registers,
    collect() {
      this.reset();
      this.inc(sources.telemetry().messages);
    },
  });
  new Counter({
    name: 'outpost_telemetry_dropped_total',
    help: 'Messages from devices dropped because their workload is not placed on the device.',
    registers,
    collect() {
      this.reset();
      this.inc(sources.telemetry().dropped);
    },
  });
}

/** The Device whose recorded certificate (`status.certificate.notAfter`) expires first, and when (ms). */
function soonestCertificateExpiry(
  devices: readonly KubeObject[],
): { device: string; notAfter: number } | undefined {
  let soonest: { device: string; notAfter: number } | undefined;
  for (const device of devices) {
    const recorded = (device.status as { certificate?: { notAfter?: string } } | undefined)?.certificate;
    const notAfter = Date.parse(recorded?.notAfter ?? '');
    if (Number.isFinite(notAfter) && (soonest === undefined || notAfter < soonest.notAfter))
      soonest = { device: device.metadata.name!, notAfter };
  }
  return soonest;
}

/** Generations written and not yet acknowledged by the agent (0 for a Mailbox never read by the hub's writer). */
function lag(mailbox: KubeObject): number {
  const observed = (mailbox.status as { observedGeneration?: number } | undefined)?.observedGeneration ?? 0;
  return Math.max(0, (mailbox.metadata.generation ?? 0) - observed);
}

function sumBySite(gauge: Gauge<'site'>, sources: FleetSources, field: string): void {
  gauge.reset();
  const caches = sources.caches();
  if (!caches) return;
  for (const device of caches.devices) {
    const value = (device.status as { resources?: Record<string, unknown> } | undefined)?.resources?.[field];
    if (typeof value === 'number' && Number.isFinite(value))
      gauge.inc({ site: device.metadata.labels?.site ?? NO_SITE }, value);
  }
}
