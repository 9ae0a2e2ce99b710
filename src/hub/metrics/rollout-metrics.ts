/**
 * Rollout progress (issue 19) for an operator's dashboards and alerts, from
 * `status.rollout` of the Placements in the leading controllers' cache, as
 * the rollout controller last wrote it. Series per Placement that rolls out
 * by revisions; none on a replica that does not lead the controllers.
 */
import { Gauge } from 'prom-client';
import type { KubeObject, RolloutStatus } from '../../api/index.ts';
import type { FleetSources } from './fleet-metrics.ts';
import type { HubMetrics } from './hub-metrics.ts';

const PHASES: readonly RolloutStatus['phase'][] = [
  'Complete',
  'Progressing',
  'Paused',
  'WaitingForApproval',
  'RolledBack',
];

/** Registers the rollout series on `metrics`' registry. */
export function registerRolloutMetrics(metrics: HubMetrics, sources: Pick<FleetSources, 'caches'>): void {
  const registers = [metrics.registry];
  const rollouts = (): Array<[labels: { namespace: string; placement: string }, RolloutStatus]> =>
    (sources.caches()?.placements ?? []).flatMap((p: KubeObject) => {
      const rollout = (p.status as { rollout?: RolloutStatus } | undefined)?.rollout;
      return rollout
        ? [[{ namespace: p.metadata.namespace ?? '', placement: p.metadata.name ?? '' }, rollout]]
        : [];
    });
  new Gauge({
    name: 'outpost_rollout_phase',
    help: "1 for the phase each Placement's rollout is in (Complete, Progressing, Paused, WaitingForApproval, RolledBack), 0 for the others (leader only).",
    labelNames: ['namespace', 'placement', 'phase'],
    registers,
    collect() {
      this.reset();
      for (const [labels, rollout] of rollouts())
        for (const phase of PHASES) this.set({ ...labels, phase }, rollout.phase === phase ? 1 : 0);
    },
  });
  new Gauge({
    name: 'outpost_rollout_revision',
    help: 'The revision being rolled out (kind="update") and the one devices outside released batches hold (kind="current"; leader only).',
    labelNames: ['namespace', 'placement', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const [labels, rollout] of rollouts()) {
        this.set({ ...labels, kind: 'update' }, rollout.updateRevision);
        this.set({ ...labels, kind: 'current' }, rollout.currentRevision);
      }
    },
  });
  new Gauge({
    name: 'outpost_rollout_batches',
    help: 'Batches of the rollout in progress: released so far (state="released") and in all (state="total"; leader only).',
    labelNames: ['namespace', 'placement', 'state'],
    registers,
    collect() {
      this.reset();
      for (const [labels, rollout] of rollouts()) {
        const total = rollout.batches?.length ?? 0;
        this.set({ ...labels, state: 'total' }, total);
        this.set({ ...labels, state: 'released' }, Math.min(rollout.releasedBatches, total));
      }
    },
  });
  new Gauge({
    name: 'outpost_rollout_devices',
    help: 'Devices of the rollout in progress by state: all matched, updated (running the update revision, ready), failed, unreachable, and waiting for the disruption budget (leader only).',
    labelNames: ['namespace', 'placement', 'state'],
    registers,
    collect() {
      this.reset();
      for (const [labels, rollout] of rollouts()) {
        const sum = { devices: 0, updated: 0, failed: 0, unreachable: 0, waiting: 0 };
        for (const batch of rollout.batches ?? []) {
          sum.devices += batch.devices;
          sum.updated += batch.updated;
          sum.failed += batch.failed;
          sum.unreachable += batch.unreachable;
          sum.waiting += batch.waiting ?? 0;
        }
        this.set({ ...labels, state: 'matched' }, sum.devices);
        for (const state of ['updated', 'failed', 'unreachable', 'waiting'] as const)
          this.set({ ...labels, state }, sum[state]);
      }
    },
  });
}
