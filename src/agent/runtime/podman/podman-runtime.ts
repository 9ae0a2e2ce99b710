import { hash as digest } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { BackoffOptions } from '../../backoff.ts';
import {
  type ActualUnit,
  type CloseOptions,
  type DesiredUnit,
  type LogOptions,
  type Runtime,
  UnitNotFoundError,
} from '../runtime.ts';
import { UnitLocks } from '../unit-locks.ts';
import { UnitApplier } from './apply.ts';
import type { PodmanEvent } from './events.ts';
import { containerNameOf, LABELS } from './kube.ts';
import { podmanLogs } from './logs.ts';
import { PodmanProbes } from './probes.ts';
import { runsVersion, Snapshots } from './snapshot.ts';
import { statusOf } from './status.ts';
import { PodStopper } from './stop.ts';
import { PodmanStores } from './stores.ts';
import { Supervisor } from './supervise.ts';

/** Options of {@link createPodmanRuntime}. */
export interface PodmanRuntimeOptions {
  /** The agent's data dir; the runtime keeps `DIR/podman/` (containers.conf, unit volumes). */
  readonly dataDir: string;
  /**
   * Label value that marks this agent's pods, so agents sharing one podman
   * (tests) never list or adopt each other's. @default a hash of `dataDir`
   */
  readonly owner?: string;
  /** The unprivileged user of rootless units, created on first use. @default 'outpost-workloads' */
  readonly rootlessUser?: string;
  /**
   * Delays between restarts of a crashed container whose unit has no retry
   * policy (a Workload's `spec.retry` replaces them). @default {initialMs: 1000, maxMs: 300000, jitter: 0}
   */
  readonly restartBackoff?: BackoffOptions;
  /** A container that ran this long gets its restart backoff reset. @default 600000 */
  readonly backoffResetMs?: number;
  /** How often podman is re-read without any event (restarts, missing images, reboots). @default 10000 */
  readonly resyncMs?: number;
  readonly logger?: Pick<Logger, 'info' | 'warn'>;
  /**
   * Variables every container gets, e.g. `OUTPOST_MQTT_URL` and
   * `OUTPOST_DEVICE` (a container's own env wins); not part of a unit's
   * hash. The local MQTT endpoint is on 127.0.0.1: only containers with
   * host networking reach it. @default none
   */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The podman runtime: every unit is played with `podman play kube` as one
 * pod per replica, labelled with this agent's owner id, the unit id and its
 * hash, which is all {@link Runtime.list} and adoption need after an agent
 * restart. Restart policies are the agent's (podman's is set to `Never`):
 * the runtime follows container deaths through `podman events` and restarts
 * per `restartPolicy` with capped exponential backoff, or per the Workload's
 * `spec.retry` (given up after `maxRetries`: `RetryLimitExceeded`),
 * reporting `CrashLoopBackOff` and the next retry time meanwhile. Rootless units run in the store of a
 * dedicated unprivileged user, with host networking.
 *
 * Replacing a version follows `rolloutOf` (rollout.ts): a Deployment's new pods
 * start first (other pod names, a higher revision label) and the old pods
 * are then stopped in the background with their full grace period; Pods,
 * StatefulSets, `Recreate` Deployments and pods on host ports stop the old
 * version first. Only the highest revision counts as the unit (status,
 * supervision, logs); older pods left by an interrupted rollout are stopped
 * by the next supervision pass, after an agent restart too.
 *
 * The runtime coordinates: the stores (stores.ts) and what is in them
 * (snapshot.ts), applying and removing units (apply.ts),
 * stopping pods (stop.ts) and restarting containers
 * (supervise.ts), every change of a unit queued behind the last
 * (unit-locks.ts).
 */
export function createPodmanRuntime(options: PodmanRuntimeOptions): Runtime {
  return new PodmanRuntime(options);
}

class PodmanRuntime implements Runtime {
  readonly name = 'podman';
  readonly #resyncMs: number;
  readonly #log: Pick<Logger, 'info' | 'warn'> | undefined;
  readonly #stores: PodmanStores;
  readonly #snapshots: Snapshots;
  readonly #locks = new UnitLocks();
  readonly #stopper: PodStopper;
  readonly #supervisor: Supervisor;
  readonly #probes: PodmanProbes;
  readonly #applier: UnitApplier;
  readonly #listeners = new Set<() => void>();
  #resync: NodeJS.Timeout | undefined;
  #supervising: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(options: PodmanRuntimeOptions) {
    const log = options.logger;
    this.#resyncMs = options.resyncMs ?? 10_000;
    this.#log = log;
    const stores = new PodmanStores({
      dir: join(resolve(options.dataDir), 'podman'),
      owner: options.owner ?? digest('sha256', resolve(options.dataDir), 'hex').slice(0, 12),
      rootlessUser: options.rootlessUser ?? 'outpost-workloads',
      log,
      onEvent: (event) => this.#seen(event),
    });
    const snapshots = new Snapshots(() => stores.hosts(), stores.owner);
    const locks = this.#locks;
    const supervisor = new Supervisor({
      stores,
      snapshots,
      locks,
      backoff: { initialMs: 1000, maxMs: 300_000, jitter: 0, ...options.restartBackoff },
      backoffResetMs: options.backoffResetMs ?? 600_000,
      log,
      onScheduled: () => this.#notify(),
      onRestarted: () => {
        this.#notify();
        this.#kick();
      },
    });
    const probes = new PodmanProbes({ onChange: () => this.#notify(), ...(log ? { log } : {}) });
    const stopper = new PodStopper({
      stores,
      snapshots,
      log,
      onContainerGone: (name) => {
        supervisor.forget(name);
        probes.forget(name);
      },
    });
    this.#applier = new UnitApplier({
      stores,
      snapshots,
      locks,
      stopper,
      supervisor,
      env: options.env ?? {},
      // No hostPath may show the data dir: its keys, credentials and every unit's Secrets.
      hiddenDirs: [resolve(options.dataDir)],
      resyncMs: this.#resyncMs,
      log,
      onChange: () => this.#notify(),
      isClosed: () => this.#closed,
    });
    this.#stores = stores;
    this.#snapshots = snapshots;
    this.#stopper = stopper;
    this.#supervisor = supervisor;
    this.#probes = probes;
  }

  async start(): Promise<void> {
    await this.#stores.start();
    // Adoption: the pods of an earlier agent are this one's, with the restart counts it saved.
    for (const unit of await this.#snapshots.read()) await this.#supervisor.loadRestarts(unit);
    await this.#supervise();
    this.#resync = setInterval(() => this.#kick(), this.#resyncMs);
    this.#resync.unref();
  }

  apply(unit: DesiredUnit): Promise<void> {
    return this.#applier.apply(unit);
  }

  prefetch(unit: DesiredUnit): Promise<readonly string[]> {
    return this.#applier.prefetch(unit);
  }

  remove(id: string): Promise<void> {
    return this.#applier.remove(id);
  }

  async list(): Promise<ActualUnit[]> {
    const units = await this.#snapshots.read({ cached: true });
    const actual: ActualUnit[] = [];
    for (const unit of units) {
      if (this.#applier.isParked(unit.id)) continue; // reported below, with why it is not running
      const complete = runsVersion(unit, unit.hash);
      actual.push({
        id: unit.id,
        source: unit.source,
        ref: unit.ref,
        // An incomplete unit (a replica removed behind the agent's back) reports no hash, so it is applied again.
        hash: complete ? unit.hash : '',
        objectHash: unit.objectHash,
        status: statusOf(unit, (c) => ({ ...this.#supervisor.supervision(c), ...this.#probes.view(c) })),
      });
    }
    for (const { unit, status } of this.#applier.parked()) {
      actual.push({
        id: unit.id,
        source: unit.source,
        ref: unit.ref,
        hash: unit.hash,
        objectHash: unit.objectHash,
        status,
      });
    }
    return actual;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<string> {
    const unit = (await this.#snapshots.read({ cached: true })).find((u) => u.id === id);
    const pod = unit?.pods.find((p) => p.replica === (options.replica ?? 0));
    if (!unit || !pod) throw new UnitNotFoundError(id);
    const first = pod.labels[LABELS.containers]?.split(',')[0];
    const name = options.container ?? first ?? pod.containers[0]?.container;
    const container = pod.containers.find((c) => c.container === name);
    if (!name || !container) throw new UnitNotFoundError(id, options.container);
    yield* podmanLogs(unit.host, containerNameOf(pod.name, name), options);
  }

  async close(options: CloseOptions = {}): Promise<void> {
    this.#closed = true;
    if (this.#resync) clearInterval(this.#resync);
    this.#stores.stop();
    this.#supervisor.stop();
    this.#probes.stop();
    await this.#supervising?.catch(() => {});
    await this.#locks.settled();
    await this.#stopper.settled();
    if (options.stopUnits) {
      for (const unit of await this.#snapshots.read())
        await this.#stopper.removeUnit(unit.host, unit.id, { volumes: true });
      // This agent's folder in the rootless user's home: nothing of it is left running.
      await this.#stores.removeRootlessState();
    }
    this.#listeners.clear();
  }

  /** A container event in podman. */
  #seen(event: PodmanEvent): void {
    // The exit time of a container: its restart delay counts from it.
    if (event.status === 'died' && event.name && event.timeMs !== undefined)
      this.#supervisor.exited(event.name, event.timeMs);
    // An old version stopping in the background changes no unit's status: its pods are not the unit's.
    if (event.podId && this.#stopper.isRetiring(event.podId)) return;
    this.#snapshots.changed();
    this.#notify();
    this.#kick();
  }

  /** Re-reads podman soon (coalesced): after an event, on the resync timer. */
  #kick(): void {
    if (this.#closed) return;
    if (this.#supervising) {
      this.#again = true;
      return;
    }
    this.#supervising = this.#supervise()
      .catch((error: unknown) => this.#log?.warn({ err: error }, 'podman supervision failed'))
      .finally(() => {
        this.#supervising = undefined;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        }
      });
  }

  /** One pass over podman: old versions to stop, containers to restart, parked units to retry. */
  async #supervise(): Promise<void> {
    for (const unit of await this.#snapshots.read()) {
      if (this.#locks.has(unit.id)) continue; // being applied or removed
      // An older version left by an interrupted rollout (agent restart, failed stop).
      this.#stopper.retire(unit.host, unit.id, unit.stale);
      this.#supervisor.check(unit);
      this.#probes.check(unit);
    }
    await this.#applier.retryParked();
  }

  #notify(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#log?.warn({ err: error }, 'runtime change listener failed');
      }
    }
  }
}
