/**
 * The agent's restart policy for podman containers (podman's own is set to
 * `Never`): a stopped container is started again per its unit's
 * `restartPolicy` after a delay, the runtime's capped exponential backoff or
 * the Workload's `spec.retry` (constant or exponential, with a limit), which
 * resets once it ran long enough. The delay counts from the container's own
 * exit as podman recorded it, not from when the agent noticed it, and the
 * start is issued early by what a start takes on this host, so the container
 * runs again when the delay is over. Restart counts survive an agent restart
 * in the unit's folder.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RetryTiming } from '../../../api/index.ts';
import { delay, monotonicMs } from '../../../util/index.ts';
import { Backoff, type BackoffOptions } from '../../backoff.ts';
import type { UnitLocks } from '../unit-locks.ts';
import type { PodmanHost } from './exec.ts';
import {
  type ContainerState,
  type PodContainers,
  podContainersOf,
  type Snapshots,
  type UnitPods,
} from './snapshot.ts';
import { retriesExhausted, type Supervision, shouldRestart } from './status.ts';
import type { PodmanStores } from './stores.ts';

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  readonly stores: PodmanStores;
  readonly snapshots: Snapshots;
  readonly locks: UnitLocks;
  /** Delays between restarts of a crashed container whose unit has no retry policy. */
  readonly backoff: BackoffOptions;
  /** A container that ran this long gets its restart delay reset (not its count). */
  readonly backoffResetMs: number;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
  /** Called when a restart was scheduled: the unit's status says when. */
  readonly onScheduled: () => void;
  /** Called after each restart: the unit's status changed, and podman should be re-read. */
  readonly onRestarted: () => void;
}

/** Supervision of one container (by podman name). */
interface Supervised {
  restarts: number;
  /** Made on first need: the unit's retry policy, else the runtime's backoff. */
  backoff?: Backoff;
  /** A restart is being scheduled (its exit time read), is scheduled or is being made. */
  pending: boolean;
  timer?: NodeJS.Timeout;
  /** The scheduled restart's delay after the exit, and when it is due (ISO time). */
  waitMs?: number;
  nextRetryTime?: string;
  startedAt?: number;
  startError?: string;
  /** When the last start was issued, and the last exit podman reported by an event (wall ms). */
  issuedAt?: number;
  exitedAt?: number;
}

/** Per unit folder: restart counts by container name. */
const RESTARTS_FILE = 'restarts.json';
/**
 * How long before a restart is due the unit is locked, podman read again and
 * the start prepared (the pod's infra container started, the container
 * initialised), so that only the start itself is left when the delay ends.
 */
const PREPARE_MS = 3000;
/** Start latencies remembered per store; the shortest is how early a start is issued. */
const LATENCIES_KEPT = 5;

/** Clears a unit's restart counts: a new version starts counting from 0. */
export async function resetRestartCounts(unitDir: string): Promise<void> {
  await rm(join(unitDir, RESTARTS_FILE), { force: true });
}

/** Restarts stopped containers and remembers, per container, what status reports about it. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #supervised = new Map<string, Supervised>();
  /** Per store: how long recent starts took from the command to podman's start time (ms). */
  readonly #latencies = new WeakMap<PodmanHost, number[]>();
  #stopped = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /**
   * Schedules a restart of every stopped container of `unit` that its
   * restart policy starts again, unless its retry policy gave it up.
   */
  check(unit: UnitPods): void {
    for (const pod of unit.pods) {
      for (const container of pod.containers) {
        const known = this.#supervisedOf(container);
        if (container.state === 'running') {
          known.startedAt ??= monotonicMs();
          if (monotonicMs() - known.startedAt > this.#options.backoffResetMs)
            this.#backoffOf(unit, known).reset();
          known.startError = undefined;
        } else if (
          shouldRestart(unit.restartPolicy, container) &&
          !known.pending &&
          !retriesExhausted(unit, known.restarts)
        ) {
          known.pending = true;
          this.#schedule(unit, pod.id, container, known).catch((error: unknown) => {
            known.pending = false;
            this.#options.log?.warn(
              { unit: unit.id, container: container.name, err: error },
              'restart failed',
            );
          });
        }
      }
    }
  }

  /** What status reports about `container` beyond podman's view. */
  supervision(container: ContainerState): Supervision {
    const known = this.#supervised.get(container.name);
    return {
      restarts: known?.restarts ?? 0,
      ...(known?.waitMs !== undefined ? { backoffMs: known.waitMs } : {}),
      ...(known?.nextRetryTime ? { nextRetryTime: known.nextRetryTime } : {}),
      ...(known?.startError ? { startError: known.startError } : {}),
    };
  }

  /** Records why `container` did not start when its pod was played (reported until it runs). */
  startFailed(container: ContainerState, message: string): void {
    this.#supervisedOf(container).startError = message;
  }

  /** Records the time of an exit that podman reported (a `died` event): the restart's delay counts from it. */
  exited(containerName: string, timeMs: number): void {
    const known = this.#supervised.get(containerName);
    if (known) known.exitedAt = timeMs;
  }

  /** Ends the supervision of a container that is gone. */
  forget(containerName: string): void {
    clearTimeout(this.#supervised.get(containerName)?.timer);
    this.#supervised.delete(containerName);
  }

  /** Reads the restart counts an earlier agent saved for `unit` (adoption keeps reporting them). */
  async loadRestarts(unit: UnitPods): Promise<void> {
    const file = join(this.#options.stores.unitsDir(unit.host), unit.id, RESTARTS_FILE);
    const counts = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as Record<string, unknown>;
    for (const pod of unit.pods) {
      for (const container of pod.containers) {
        const count = counts[container.name];
        if (typeof count === 'number') this.#supervisedOf(container).restarts = count;
      }
    }
  }

  /** Cancels every scheduled restart; none is made afterwards. */
  stop(): void {
    this.#stopped = true;
    for (const supervised of this.#supervised.values()) clearTimeout(supervised.timer);
  }

  #supervisedOf(container: ContainerState): Supervised {
    let known = this.#supervised.get(container.name);
    if (!known) {
      known = { restarts: 0, pending: false };
      this.#supervised.set(container.name, known);
    }
    return known;
  }

  #backoffOf(unit: UnitPods, known: Supervised): Backoff {
    const retry: RetryTiming | undefined = unit.retry;
    known.backoff ??= new Backoff(
      retry
        ? { initialMs: retry.initialMs, factor: retry.factor, maxMs: retry.maxMs, jitter: 0 }
        : this.#options.backoff,
    );
    return known.backoff;
  }

  /** Sets the timer of the next restart of `container`, due its delay after the exit podman recorded. */
  async #schedule(
    unit: UnitPods,
    podId: string,
    container: ContainerState,
    known: Supervised,
  ): Promise<void> {
    const wait = this.#backoffOf(unit, known).next();
    // The agent may see an exit late (an event's way, a resync, its own restart): the delay counts from the exit,
    // as its event said (one after the last start is of this exit) or else as podman recorded it.
    const seen = known.exitedAt;
    const exitedAt =
      seen !== undefined && seen >= (known.issuedAt ?? 0)
        ? seen
        : await finishedAtMs(unit.host, container.id);
    if (this.#stopped || this.#supervised.get(container.name) !== known) return;
    // Wall clock only for the elapsed part, bounded by the delay: a clock jump cannot move the restart past it.
    const elapsed = exitedAt === undefined ? 0 : Math.min(wait, Math.max(0, Date.now() - exitedAt));
    const due = monotonicMs() + wait - elapsed;
    known.waitMs = wait;
    known.nextRetryTime = new Date(Date.now() + wait - elapsed).toISOString();
    const startAt = due - this.#leadOf(unit.host, wait);
    known.timer = setTimeout(
      () => void this.#restart(unit, podId, container, known, startAt),
      Math.max(0, startAt - PREPARE_MS - monotonicMs()),
    );
    this.#options.onScheduled();
  }

  /** How early a start is issued in `host`: the shortest recent start there, at most half the delay. */
  #leadOf(host: PodmanHost, wait: number): number {
    const latencies = this.#latencies.get(host) ?? [];
    return latencies.length === 0 ? 0 : Math.min(Math.min(...latencies), wait / 2);
  }

  /** Remembers how long a start took: from the command (`issuedAt`, wall ms) to podman's start time. */
  async #measureStart(host: PodmanHost, containerId: string, issuedAt: number): Promise<void> {
    const started = await startedAtMs(host, containerId);
    if (started === undefined) return;
    const latency = started - issuedAt;
    if (latency < 0 || latency > 60_000) return; // a clock jump meanwhile
    const latencies = this.#latencies.get(host) ?? [];
    latencies.push(latency);
    if (latencies.length > LATENCIES_KEPT) latencies.shift();
    this.#latencies.set(host, latencies);
  }

  async #restart(
    unit: UnitPods,
    podId: string,
    container: ContainerState,
    known: Supervised,
    startAt: number,
  ): Promise<void> {
    const { snapshots, log } = this.#options;
    known.timer = undefined;
    if (this.#stopped || this.#supervised.get(container.name) !== known) return;
    try {
      await this.#options.locks.run(unit.id, async () => {
        // Podman is read again under the unit's lock: the pod may have been replaced or removed meanwhile.
        const pod = await podContainersOf(unit.host, podId);
        const now = pod.containers.find((c) => c.name === container.name);
        if (!now || !shouldRestart(unit.restartPolicy, now)) return;
        // Ahead of the due time: what a start needs besides the start itself.
        const prepared = await prepareStart(unit.host, pod, now.name);
        const early = startAt - monotonicMs();
        if (early > 0) await delay(early);
        if (this.#stopped || this.#supervised.get(container.name) !== known) return;
        const issuedAt = Date.now();
        known.issuedAt = issuedAt;
        try {
          await unit.host.run(prepared ? ['start', now.name] : ['pod', 'start', podId]);
          known.startError = undefined;
          void this.#measureStart(unit.host, now.id, issuedAt);
        } catch (error) {
          known.startError = error instanceof Error ? error.message : String(error);
        }
        known.restarts++;
        known.startedAt = monotonicMs();
        snapshots.changed();
        await this.#saveRestarts(unit);
        log?.info({ unit: unit.id, container: now.name, restarts: known.restarts }, 'container restarted');
      });
    } catch (error) {
      log?.warn({ unit: unit.id, container: container.name, err: error }, 'restart failed');
    } finally {
      known.pending = false;
      known.waitMs = undefined;
      known.nextRetryTime = undefined;
    }
    this.#options.onRestarted();
  }

  async #saveRestarts(unit: UnitPods): Promise<void> {
    const counts: Record<string, number> = {};
    for (const pod of unit.pods) {
      for (const container of pod.containers) {
        const restarts = this.#supervised.get(container.name)?.restarts;
        if (restarts) counts[container.name] = restarts;
      }
    }
    const file = join(this.#options.stores.unitsDir(unit.host), unit.id, RESTARTS_FILE);
    await writeFile(file, JSON.stringify(counts)).catch((error: unknown) =>
      this.#options.log?.warn({ unit: unit.id, err: error }, 'could not save restart counts'),
    );
  }
}

/**
 * Prepares the start of container `name` of `pod`: starts the pod's
 * infra container if it stopped (a pod whose last container died has it
 * stopped too, podman's pod exit policy) and initialises the container (its
 * runtime container created, not started). Whether both worked: else the
 * start falls back to `podman pod start`, which reports what fails.
 */
async function prepareStart(host: PodmanHost, pod: PodContainers, name: string): Promise<boolean> {
  try {
    const { infra } = pod;
    if (!infra) return false;
    if (!infra.running) await host.run(['start', infra.id]);
    await host.run(['init', name]);
    return true;
  } catch {
    return false;
  }
}

/** A container's podman time `field` (`StartedAt`, `FinishedAt`) in wall ms; undefined when unknown. */
async function containerTimeMs(host: PodmanHost, id: string, field: string): Promise<number | undefined> {
  const out = await host
    .run(['container', 'inspect', '--format', `{{.State.${field}.UnixNano}}`, id])
    .catch(() => '');
  const ns = Number(out.trim());
  return Number.isFinite(ns) && ns > 0 ? ns / 1e6 : undefined;
}

function finishedAtMs(host: PodmanHost, id: string): Promise<number | undefined> {
  return containerTimeMs(host, id, 'FinishedAt');
}

function startedAtMs(host: PodmanHost, id: string): Promise<number | undefined> {
  return containerTimeMs(host, id, 'StartedAt');
}
