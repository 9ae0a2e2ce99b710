/**
 * What a unit's pods mean, Kubernetes-style: its phase, readiness and
 * restarts from what podman reports and what supervision knows, and whether
 * a stopped container is due for a restart.
 */

import type { UnitPhase, UnitStatus } from '../runtime.ts';
import type { ContainerState, UnitPods } from './snapshot.ts';

/** What the runtime's supervision knows about one container beyond podman's view. */
export interface Supervision {
  /** Restarts made since the unit was applied (or adopted). */
  readonly restarts: number;
  /** How long the scheduled restart waits after the container's exit, when one is scheduled. */
  readonly backoffMs?: number;
  /** When the scheduled restart is due (ISO time), when one is scheduled. */
  readonly nextRetryTime?: string;
  /** Why the last start failed (play kube or podman start stderr). */
  readonly startError?: string;
  /** What its probes say while it runs (absent without probes: ready while running). */
  readonly ready?: boolean;
  /** Which probe failed and why (not ready, or the reason of the last probe restart). */
  readonly probeMessage?: string;
}

/** Whether a container that stopped must be started again under `policy`. */
export function shouldRestart(policy: UnitPods['restartPolicy'], container: ContainerState): boolean {
  if (!isStopped(container)) return false;
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return container.exitCode !== 0 || !hasStarted(container);
  return false;
}

/**
 * Whether `unit`'s retry policy gives a container with `restarts` restarts up:
 * its next exit leaves it terminated (RetryLimitExceeded) until the unit changes.
 */
export function retriesExhausted(unit: Pick<UnitPods, 'retry'>, restarts: number): boolean {
  const limit = unit.retry?.maxRetries;
  return limit !== undefined && restarts >= limit;
}

export function isStopped(container: ContainerState): boolean {
  // `initialized`: prepared for a restart (supervise.ts) by an agent that stopped before starting it.
  return ['exited', 'stopped', 'created', 'configured', 'initialized'].includes(container.state);
}

export function hasStarted(container: ContainerState): boolean {
  return container.startedAt > 0;
}

const RANK: Record<UnitPhase, number> = { Succeeded: 0, Running: 1, Pending: 3, Unknown: 4, Failed: 5 };

/**
 * The status of a unit from its pods, Kubernetes-style: a replica whose
 * containers all run is Running and ready; a crashed container waiting for
 * its restart keeps the replica Running, not ready, `CrashLoopBackOff`; with
 * nothing left to restart the replica Succeeded or Failed (`Error`, with the
 * exit code; `RetryLimitExceeded` once the unit's retry policy gave it up). Several replicas report the worst one, restarts summed.
 */
export function statusOf(
  unit: UnitPods,
  supervision: (container: ContainerState) => Supervision,
): UnitStatus {
  let worst: UnitStatus | undefined;
  let restarts = 0;
  let ready = true;
  const missing = unit.replicas - unit.pods.length;
  if (missing > 0) {
    worst = {
      phase: 'Pending',
      reason: 'ReplicaMissing',
      message: `${missing} of ${unit.replicas} pods missing`,
    };
    ready = false;
  }
  for (const pod of unit.pods) {
    let podStatus: UnitStatus = { phase: 'Running' };
    let podReady = pod.containers.length > 0;
    for (const container of pod.containers) {
      const known = supervision(container);
      restarts += known.restarts;
      const status = containerStatus(unit, container, known);
      if (status.phase !== 'Running' || status.ready === false) podReady = false;
      // Equal rank: the first that says something (a probe's message) is reported.
      if (rankOf(status) > rankOf(podStatus) || (rankOf(status) === rankOf(podStatus) && !podStatus.message))
        podStatus = status;
    }
    if (podStatus.phase === 'Running' && pod.containers.length === 0) {
      podStatus = { phase: 'Pending', reason: 'ContainerCreating' };
    }
    if (!podReady) ready = false;
    if (
      !worst ||
      rankOf(podStatus) > rankOf(worst) ||
      (rankOf(podStatus) === rankOf(worst) && !worst.message)
    )
      worst = podStatus;
  }
  worst ??= { phase: 'Running', message: 'scaled to 0 replicas' };
  return { ...worst, ready: ready && worst.phase === 'Running', restarts };
}

function rankOf(status: UnitStatus): number {
  return RANK[status.phase] + (status.phase === 'Running' && status.ready === false ? 1 : 0);
}

function containerStatus(unit: UnitPods, container: ContainerState, known: Supervision): UnitStatus {
  const name = container.container;
  if (container.state === 'running' || container.state === 'paused')
    return {
      phase: 'Running',
      ready: known.ready ?? true,
      ...(known.probeMessage ? { message: known.probeMessage } : {}),
    };
  if (!isStopped(container)) return { phase: 'Pending', ready: false, reason: 'ContainerCreating' };
  const started = hasStarted(container);
  if (shouldRestart(unit.restartPolicy, container)) {
    if (retriesExhausted(unit, known.restarts)) {
      const how = started ? `exited with code ${container.exitCode}` : 'could not start';
      return {
        phase: 'Failed',
        ...(started ? { exitCode: container.exitCode } : {}),
        reason: 'RetryLimitExceeded',
        message: `container ${name} ${how} after ${known.restarts} restarts: spec.retry.maxRetries is ${unit.retry?.maxRetries}`,
      };
    }
    const limit = unit.retry?.maxRetries === undefined ? '' : ` of ${unit.retry.maxRetries}`;
    const next =
      known.backoffMs === undefined
        ? ''
        : `; restart ${known.restarts + 1}${limit} in ${durationText(known.backoffMs)}`;
    const retry = known.nextRetryTime ? { nextRetryTime: known.nextRetryTime } : {};
    if (!started && known.startError) {
      return {
        phase: 'Pending',
        ready: false,
        reason: 'StartFailed',
        message: `container ${name} could not start: ${known.startError}${next}`.slice(0, 500),
        ...retry,
      };
    }
    if (!started) return { phase: 'Pending', ready: false, reason: 'ContainerCreating' };
    return {
      phase: 'Running',
      ready: false,
      exitCode: container.exitCode,
      reason: 'CrashLoopBackOff',
      message: `restarting container ${name} (exit code ${container.exitCode})${next}${known.probeMessage ? `; ${known.probeMessage}` : ''}`,
      ...retry,
    };
  }
  if (!started) {
    return {
      phase: 'Failed',
      reason: 'StartFailed',
      message: `container ${name} could not start${known.startError ? `: ${known.startError}` : ''}`.slice(
        0,
        500,
      ),
    };
  }
  if (container.exitCode === 0) return { phase: 'Succeeded', exitCode: 0, reason: 'Completed' };
  return {
    phase: 'Failed',
    exitCode: container.exitCode,
    reason: 'Error',
    message: `container ${name} exited with code ${container.exitCode}`,
  };
}

/** `800 ms`, `2000 ms`, `12 s`: a restart delay as status says it. */
function durationText(ms: number): string {
  return ms < 10_000 ? `${Math.round(ms)} ms` : `${Math.ceil(ms / 1000)} s`;
}
