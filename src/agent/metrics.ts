/**
 * The agent's own Prometheus metrics, served as text by the loopback metrics
 * endpoint (`GET 127.0.0.1:PORT/metrics` asking for `text/plain` or
 * OpenMetrics, as Prometheus does). Every series is read from the agent's
 * parts when scraped; prom-client is loaded on the first scrape only, so an
 * agent nobody scrapes does not carry it.
 */
import { OBJECT_PHASES } from '../api/index.ts';
import type { SourcedStatus } from './reconcile/index.ts';

/** Where the agent's series come from. */
export interface AgentMetricsSources {
  /** Per-object status of the last reconcile pass. */
  readonly statuses: () => readonly SourcedStatus[];
  /** Entries in the report outbox (status reports not yet accepted by the hub). */
  readonly reportOutbox: () => number;
  /** Messages and bytes in the telemetry outbox (not yet acknowledged by the hub). */
  readonly telemetryOutbox: () => { readonly messages: number; readonly bytes: number };
  /** The device profiles' conditions, when profiles are placed. */
  readonly profiles: () =>
    | ReadonlyArray<{ name: string; conditions: ReadonlyArray<{ name: string; state: string }> }>
    | undefined;
}

/** The agent's metrics in the Prometheus text format. */
export interface AgentMetrics {
  render(): Promise<{ contentType: string; body: string }>;
}

/** Builds the agent's registry on first use (a registry of its own, never prom-client's global one). */
export function createAgentMetrics(sources: AgentMetricsSources): AgentMetrics {
  let registry: Promise<import('prom-client').Registry> | undefined;
  return {
    async render() {
      registry ??= build(sources);
      const built = await registry;
      return { contentType: built.contentType, body: await built.metrics() };
    },
  };
}

async function build(sources: AgentMetricsSources): Promise<import('prom-client').Registry> {
  const { Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  const registers = [registry];
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: "The agent's resident memory in bytes.",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: 'outpost_agent_units',
    help: 'Units (containers of the Mailbox) by phase, as the last reconcile pass saw them.',
    labelNames: ['phase'],
    registers,
    collect() {
      this.reset();
      for (const phase of OBJECT_PHASES) this.set({ phase }, 0);
      for (const { status } of sources.statuses()) this.inc({ phase: status.phase });
    },
  });
  new Gauge({
    name: 'outpost_agent_unit_restarts',
    help: 'Restarts of the units of each workload (namespace/name), as their status reports them.',
    labelNames: ['workload'],
    registers,
    collect() {
      this.reset();
      for (const { source, status } of sources.statuses())
        this.inc({ workload: `${source.namespace}/${source.workload}` }, status.restarts ?? 0);
    },
  });
  new Gauge({
    name: 'outpost_agent_report_outbox_entries',
    help: 'Status reports waiting in the outbox for the hub.',
    registers,
    collect() {
      this.set(sources.reportOutbox());
    },
  });
  new Gauge({
    name: 'outpost_agent_telemetry_outbox_messages',
    help: 'Telemetry messages waiting in the outbox for the hub.',
    registers,
    collect() {
      this.set(sources.telemetryOutbox().messages);
    },
  });
  new Gauge({
    name: 'outpost_agent_telemetry_outbox_bytes',
    help: 'Bytes of the telemetry outbox on disk.',
    registers,
    collect() {
      this.set(sources.telemetryOutbox().bytes);
    },
  });
  new Gauge({
    name: 'outpost_agent_policy_condition',
    help: 'Device profile conditions: 1 for the state (True, False) each is in, 0 for the other.',
    labelNames: ['profile', 'condition', 'state'],
    registers,
    collect() {
      this.reset();
      for (const profile of sources.profiles() ?? [])
        for (const condition of profile.conditions)
          for (const state of ['True', 'False'])
            this.set(
              { profile: profile.name, condition: condition.name, state },
              condition.state === state ? 1 : 0,
            );
    },
  });
  return registry;
}
