/**
 * What this agent's pods look like in podman: {@link snapshotOf} reads one
 * store with one `podman ps`, {@link Snapshots} reads every store and lets
 * frequent readers (the reconciler's `list`) reuse a read while nothing
 * changed.
 */
import type { MailboxSource, ObjectRef, RetryTiming } from '../../../api/index.ts';
import { monotonicMs } from '../../../util/index.ts';
import type { PodmanHost } from './exec.ts';
import { LABELS } from './kube.ts';

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
  /** The Workload's retry policy ({@link LABELS.retry}): replaces the runtime's restart backoff. */
  readonly retry?: RetryTiming;
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
    const retry = parseRetry(labels[LABELS.retry]);
    units.push({
      id,
      host,
      hash: labels[LABELS.hash] ?? '',
      objectHash: labels[LABELS.objectHash] ?? '',
      ...identity,
      restartPolicy: policy === 'Never' || policy === 'OnFailure' ? policy : 'Always',
      ...(retry ? { retry } : {}),
      replicas: Number(labels[LABELS.replicas] ?? 1),
      revision,
      pods: group.pods.filter((p) => p.revision === revision).sort((a, b) => a.replica - b.replica),
      stale: group.pods.filter((p) => p.revision !== revision),
    });
  }
  return units;
}

/**
 * Whether every replica of `unit` runs the version of `hash` (an incomplete
 * unit, a replica removed behind the agent's back, must be played again).
 */
export function runsVersion(unit: UnitPods, hash: string): boolean {
  return unit.pods.length === unit.replicas && unit.pods.every((p) => p.labels[LABELS.hash] === hash);
}

/** What `podman ps` says about one pod, read by its id (a pod replaced meanwhile has another id). */
export interface PodContainers {
  /** Its infra container, and whether it runs (else `podman start` of one container cannot work). */
  readonly infra?: { readonly id: string; readonly running: boolean };
  /** Its app containers. */
  readonly containers: readonly ContainerState[];
}

/** The containers of pod `podId` (none when the pod is gone), with one `podman ps`. */
export async function podContainersOf(host: PodmanHost, podId: string): Promise<PodContainers> {
  const found = await host.json<PsContainer[]>(['ps', '-a', '--format', 'json', '--filter', `pod=${podId}`]);
  const infra = found.find((c) => c.IsInfra);
  return {
    ...(infra ? { infra: { id: infra.Id, running: infra.State === 'running' } } : {}),
    containers: found
      .filter((c) => !c.IsInfra)
      .map((c) => {
        const name = c.Names?.[0] ?? c.Id;
        const container =
          c.PodName && name.startsWith(`${c.PodName}-`) ? name.slice(c.PodName.length + 1) : name;
        return {
          id: c.Id,
          name,
          container,
          state: c.State ?? 'unknown',
          exitCode: c.ExitCode ?? 0,
          startedAt: c.StartedAt ?? 0,
        };
      }),
  };
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

/** A {@link LABELS.retry} value; undefined when absent or not a timing (a label edited by hand). */
function parseRetry(text: string | undefined): RetryTiming | undefined {
  if (!text) return undefined;
  try {
    const { initialMs, factor, maxMs, maxRetries } = JSON.parse(text) as Partial<RetryTiming>;
    const positive = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;
    if (!positive(initialMs) || !positive(factor) || !positive(maxMs)) return undefined;
    const limit = typeof maxRetries === 'number' && maxRetries >= 0 ? { maxRetries } : {};
    return { initialMs, factor, maxMs, ...limit };
  } catch {
    return undefined;
  }
}

/** How long {@link Snapshots.read} may answer from the last read when nothing changed meanwhile. */
const SNAPSHOT_TTL_MS = 2000;

/**
 * Every unit of this agent (`owner`) in every store. A cached read is reused
 * while no change was reported through {@link changed} since (events,
 * applies, removals, restarts) and it is younger than {@link SNAPSHOT_TTL_MS};
 * supervision always reads anew, so a missed event costs at most that long.
 */
export class Snapshots {
  /** Bumped on every change seen or made; a snapshot read at the same generation is still current. */
  #generation = 0;
  #cache: { generation: number; at: number; units: Promise<UnitPods[]> } | undefined;

  constructor(
    private readonly hosts: () => Promise<PodmanHost[]>,
    private readonly owner: string,
  ) {}

  /** Every unit in every store; `cached`: the last read while it is current. */
  read(options: { cached?: boolean } = {}): Promise<UnitPods[]> {
    const cache = this.#cache;
    if (
      options.cached &&
      cache &&
      cache.generation === this.#generation &&
      monotonicMs() - cache.at < SNAPSHOT_TTL_MS
    )
      return cache.units;
    const generation = this.#generation;
    const units = this.hosts().then(async (hosts) =>
      (await Promise.all(hosts.map((host) => snapshotOf(host, this.owner)))).flat(),
    );
    this.#cache = { generation, at: monotonicMs(), units };
    units.catch(() => {
      if (this.#cache?.units === units) this.#cache = undefined;
    });
    return units;
  }

  /** One unit in one store, read anew (undefined when it has no pod there). */
  async unit(host: PodmanHost, unitId: string): Promise<UnitPods | undefined> {
    return (await snapshotOf(host, this.owner, unitId))[0];
  }

  /** Something changed in podman (seen or made): the next cached read reads podman again. */
  changed(): void {
    this.#generation++;
  }
}
