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
  /** {@link LABELS.revision}: the play that made the pod. */
  readonly revision: number;
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
  /** The revision of {@link pods} (the highest of the unit's pods). */
  readonly revision: number;
  /** The pods of the current version (the highest revision), replica order; what status and supervision see. */
  readonly pods: PodState[];
  /** Pods of older revisions: a version replaced by starting the new one first, being stopped. */
  readonly stale: PodState[];
}

interface PsContainer {
  Id: string;
  Names?: string[] | null;
  Pod?: string;
  PodName?: string;
  Labels?: Record<string, string> | null;
  State?: string;
  ExitCode?: number;
  StartedAt?: number;
  IsInfra?: boolean;
}

/**
 * Reads the pods and containers this agent (`owner`) created in one store,
 * grouped by unit (or of one unit). One `podman ps -a --pod` (the app
 * containers carry their pod's labels): `podman pod ps` would wait for every
 * pod being removed (it takes each pod's lock), which an old version stopping
 * in the background for its grace period is. A pod shows up through its app
 * containers; one without any (a play interrupted half-way) is not seen, and
 * a play of the same name then fails once and cleans it up.
 */
export async function snapshotOf(host: PodmanHost, owner: string, unitId?: string): Promise<UnitPods[]> {
  const filters = ['--filter', `label=${LABELS.owner}=${owner}`];
  if (unitId) filters.push('--filter', `label=${LABELS.unit}=${unitId}`);
  const containers = await host.json<PsContainer[]>(['ps', '-a', '--pod', '--format', 'json', ...filters]);
  const byPod = new Map<
    string,
    { name: string; labels: Record<string, string>; containers: ContainerState[] }
  >();
  for (const c of containers) {
    if (c.IsInfra || !c.Pod || !c.PodName) continue;
    const pod = byPod.get(c.Pod) ?? { name: c.PodName, labels: c.Labels ?? {}, containers: [] };
    byPod.set(c.Pod, pod);
    const name = c.Names?.[0] ?? c.Id;
    pod.containers.push({
      id: c.Id,
      name,
      container: name.startsWith(`${pod.name}-`) ? name.slice(pod.name.length + 1) : name,
      state: c.State ?? 'unknown',
      exitCode: c.ExitCode ?? 0,
      startedAt: c.StartedAt ?? 0,
    });
  }
  const grouped = new Map<string, { labels: Record<string, string>; pods: PodState[] }>();
  for (const [podId, pod] of byPod) {
    const { labels } = pod;
    const id = labels[LABELS.unit];
    if (!id) continue;
    // Spec order (the label), as `podman pod ps` listed them.
    const order = (labels[LABELS.containers] ?? '').split(',');
    pod.containers.sort((a, b) => order.indexOf(a.container) - order.indexOf(b.container));
    const state: PodState = {
      id: podId,
      name: pod.name,
      replica: Number(labels[LABELS.replica] ?? 0),
      revision: revisionOf(labels),
      labels,
      containers: pod.containers,
    };
    const group = grouped.get(id) ?? { labels, pods: [] };
    group.pods.push(state);
    // The unit's identity, hash and policy are those of its newest pods.
    if (state.revision > revisionOf(group.labels)) group.labels = labels;
    grouped.set(id, group);
  }
  const units: UnitPods[] = [];
  for (const [id, group] of grouped) {
    const { labels } = group;
    const identity = parseIdentity(labels[LABELS.identity]);
    if (!identity) continue;
    const policy = labels[LABELS.restartPolicy];
    const revision = revisionOf(labels);
    units.push({
      id,
      host,
      hash: labels[LABELS.hash] ?? '',
      objectHash: labels[LABELS.objectHash] ?? '',
      ...identity,
      restartPolicy: policy === 'Never' || policy === 'OnFailure' ? policy : 'Always',
      replicas: Number(labels[LABELS.replicas] ?? 1),
      revision,
      pods: group.pods.filter((p) => p.revision === revision).sort((a, b) => a.replica - b.replica),
      stale: group.pods.filter((p) => p.revision !== revision),
    });
  }
  return units;
}

/** Whether the infra container of pod `podId` runs (else `podman start` of one container cannot work). */
export async function infraRunning(host: PodmanHost, podId: string): Promise<boolean> {
  const containers = await host.json<PsContainer[]>([
    'ps',
    '-a',
    '--format',
    'json',
    '--filter',
    `pod=${podId}`,
  ]);
  return containers.some((c) => c.IsInfra && c.State === 'running');
}

/** The revision label of a pod (0 when absent: a pod of an agent before revisions). */
function revisionOf(labels: Readonly<Record<string, string>>): number {
  const revision = Number(labels[LABELS.revision] ?? 0);
  return Number.isSafeInteger(revision) && revision >= 0 ? revision : 0;
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
