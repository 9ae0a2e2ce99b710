import type { MailboxSource, ObjectRef } from '../../api/index.ts';
import type { PodmanHost } from './podman-exec.ts';
import { LABELS } from './podman-kube.ts';
import type { UnitPhase, UnitStatus } from './runtime.ts';

/** One app container of a pod, as `podman ps -a --format json` reports it. */
export interface ContainerState {
  readonly id: string;
  /** podman's name: `<pod>-<container>`. */
  readonly name: string;
  /** The container's name in the pod spec. */
  readonly container: string;
  /** created, running, exited, stopped, configured, paused, ... */
  readonly state: string;
  readonly exitCode: number;
  /** Unix seconds; 0 or negative when never started. */
  readonly startedAt: number;
}

/** One pod (replica) of a unit. */
export interface PodState {
  readonly id: string;
  readonly name: string;
  readonly replica: number;
  readonly infraRunning: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly containers: readonly ContainerState[];
}

/** Every pod of one unit in one store. */
export interface UnitPods {
  readonly id: string;
  readonly host: PodmanHost;
  readonly hash: string;
  readonly objectHash: string;
  readonly source: MailboxSource;
  readonly ref: ObjectRef;
  readonly restartPolicy: 'Always' | 'OnFailure' | 'Never';
  readonly replicas: number;
  readonly pods: PodState[];
}

interface PsPod {
  Id: string;
  Name: string;
  InfraId?: string;
  Labels?: Record<string, string> | null;
  Containers?: { Id: string; Names: string; Status: string }[] | null;
}

interface PsContainer {
  Id: string;
  Names?: string[] | null;
  Pod?: string;
  State?: string;
  ExitCode?: number;
  StartedAt?: number;
  IsInfra?: boolean;
}

/** Reads the pods and containers this agent (`owner`) created in one store, grouped by unit (or of one unit). */
export async function snapshotOf(host: PodmanHost, owner: string, unitId?: string): Promise<UnitPods[]> {
  const filters = ['--filter', `label=${LABELS.owner}=${owner}`];
  if (unitId) filters.push('--filter', `label=${LABELS.unit}=${unitId}`);
  // Pods first: a pod created between the two reads shows up without containers, harmlessly.
  const pods = await host.json<PsPod[]>(['pod', 'ps', '--format', 'json', ...filters]);
  if (pods.length === 0) return [];
  const containers = await host.json<PsContainer[]>(['ps', '-a', '--format', 'json', ...filters]);
  const units = new Map<string, UnitPods>();
  for (const pod of pods) {
    const labels = pod.Labels ?? {};
    const id = labels[LABELS.unit];
    if (!id) continue;
    let unit = units.get(id);
    if (!unit) {
      const identity = parseIdentity(labels[LABELS.identity]);
      if (!identity) continue;
      const policy = labels[LABELS.restartPolicy];
      unit = {
        id,
        host,
        hash: labels[LABELS.hash] ?? '',
        objectHash: labels[LABELS.objectHash] ?? '',
        ...identity,
        restartPolicy: policy === 'Never' || policy === 'OnFailure' ? policy : 'Always',
        replicas: Number(labels[LABELS.replicas] ?? 1),
        pods: [],
      };
      units.set(id, unit);
    }
    const infra = pod.Containers?.find((c) => c.Id === pod.InfraId);
    unit.pods.push({
      id: pod.Id,
      name: pod.Name,
      replica: Number(labels[LABELS.replica] ?? 0),
      infraRunning: infra?.Status === 'running',
      labels,
      containers: containers
        .filter((c) => c.Pod === pod.Id && !c.IsInfra)
        .map((c) => {
          const name = c.Names?.[0] ?? c.Id;
          return {
            id: c.Id,
            name,
            container: name.startsWith(`${pod.Name}-`) ? name.slice(pod.Name.length + 1) : name,
            state: c.State ?? 'unknown',
            exitCode: c.ExitCode ?? 0,
            startedAt: c.StartedAt ?? 0,
          };
        }),
    });
  }
  for (const unit of units.values()) unit.pods.sort((a, b) => a.replica - b.replica);
  return [...units.values()];
}

function parseIdentity(text: string | undefined): { source: MailboxSource; ref: ObjectRef } | undefined {
  try {
    const parsed = JSON.parse(text ?? '') as { source?: MailboxSource; ref?: ObjectRef };
    return parsed.source && parsed.ref ? { source: parsed.source, ref: parsed.ref } : undefined;
  } catch {
    return undefined;
  }
}

/** What the runtime's supervision knows about one container beyond podman's view. */
export interface Supervision {
  /** Restarts made since the unit was applied (or adopted). */
  readonly restarts: number;
  /** Milliseconds until the next restart, when one is scheduled. */
  readonly backoffMs?: number;
  /** Why the last start failed (play kube or podman start stderr). */
  readonly startError?: string;
}

/** Whether a container that stopped must be started again under `policy`. */
export function shouldRestart(policy: UnitPods['restartPolicy'], container: ContainerState): boolean {
  if (!isStopped(container)) return false;
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return container.exitCode !== 0 || !hasStarted(container);
  return false;
}

export function isStopped(container: ContainerState): boolean {
  return ['exited', 'stopped', 'created', 'configured'].includes(container.state);
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
 * exit code). Several replicas report the worst one, restarts summed.
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
      if (rankOf(status) > rankOf(podStatus)) podStatus = status;
    }
    if (podStatus.phase === 'Running' && pod.containers.length === 0) {
      podStatus = { phase: 'Pending', reason: 'ContainerCreating' };
    }
    if (!podReady) ready = false;
    if (!worst || rankOf(podStatus) > rankOf(worst)) worst = podStatus;
  }
  worst ??= { phase: 'Running', message: 'scaled to 0 replicas' };
  return { ...worst, ready: ready && worst.phase === 'Running', restarts };
}

function rankOf(status: UnitStatus): number {
  return RANK[status.phase] + (status.phase === 'Running' && status.ready === false ? 1 : 0);
}

function containerStatus(unit: UnitPods, container: ContainerState, known: Supervision): UnitStatus {
  const name = container.container;
  if (container.state === 'running' || container.state === 'paused') return { phase: 'Running', ready: true };
  if (!isStopped(container)) return { phase: 'Pending', ready: false, reason: 'ContainerCreating' };
  const started = hasStarted(container);
  if (shouldRestart(unit.restartPolicy, container)) {
    const wait = known.backoffMs === undefined ? '' : `back-off ${Math.ceil(known.backoffMs / 1000)}s `;
    if (!started && known.startError) {
      return {
        phase: 'Pending',
        ready: false,
        reason: 'StartFailed',
        message: `${wait}container ${name} could not start: ${known.startError}`.slice(0, 500),
      };
    }
    if (!started) return { phase: 'Pending', ready: false, reason: 'ContainerCreating' };
    return {
      phase: 'Running',
      ready: false,
      exitCode: container.exitCode,
      reason: 'CrashLoopBackOff',
      message: `${wait}restarting container ${name} (exit code ${container.exitCode})`,
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
