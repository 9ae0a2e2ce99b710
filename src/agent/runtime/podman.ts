import { hash as digest } from 'node:crypto';
import { chown, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions, monotonicMs } from '../backoff.ts';
import { type PodmanEvent, PodmanEvents } from './podman-events.ts';
import {
  findRootlessUser,
  ownedDir,
  PodmanError,
  PodmanHost,
  rootlessStateDir,
  setupRootlessUser,
  writeContainersConf,
} from './podman-exec.ts';
import { containerNameOf, LABELS, podNameOf, renderKubePlay } from './podman-kube.ts';
import { podmanLogs } from './podman-logs.ts';
import { rolloutOf } from './podman-rollout.ts';
import {
  type ContainerState,
  infraRunning,
  type PodState,
  shouldRestart,
  snapshotOf,
  statusOf,
  type UnitPods,
} from './podman-status.ts';
import { ContainerConfigError } from './process-env.ts';
import { materialiseVolumes } from './process-volumes.ts';
import {
  type ActualUnit,
  type CloseOptions,
  type DesiredUnit,
  type LogOptions,
  type Runtime,
  UnitNotFoundError,
  type UnitStatus,
} from './runtime.ts';

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
  /** Delays between restarts of a crashed container. @default {initialMs: 1000, maxMs: 300000, jitter: 0} */
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

/** A unit that could not be played (image not present, ConfigMap key missing): reported, retried on resync. */
interface Pending {
  readonly unit: DesiredUnit;
  readonly status: UnitStatus;
  /** Retries back off (from `resyncMs` up to 5 minutes) while the cause stays the same. */
  readonly backoff: Backoff;
  readonly retryAt: number;
}

/** A pod of an older version being stopped in the background (see {@link rolloutOf}). */
interface Retiring {
  readonly unit: string;
  readonly name: string;
  /** Resolves true once the pod is gone, false if `pod rm` failed (the next supervision retries). */
  readonly done: Promise<boolean>;
}

/** Supervision of one container (by podman name). */
interface Supervised {
  restarts: number;
  readonly backoff: Backoff;
  timer?: NodeJS.Timeout;
  nextAt?: number;
  startedAt?: number;
  startError?: string;
}

/**
 * The podman runtime: every unit is played with `podman play kube` as one
 * pod per replica, labelled with this agent's owner id, the unit id and its
 * hash, which is all {@link Runtime.list} and adoption need after an agent
 * restart. Restart policies are the agent's (podman's is set to `Never`):
 * the runtime follows container deaths through `podman events` and restarts
 * per `restartPolicy` with capped exponential backoff, reporting
 * `CrashLoopBackOff` meanwhile. Rootless units run in the store of a
 * dedicated unprivileged user, with host networking.
 *
 * Replacing a version follows {@link rolloutOf}: a Deployment's new pods
 * start first (other pod names, a higher revision label) and the old pods
 * are then stopped in the background with their full grace period; Pods,
 * StatefulSets, `Recreate` Deployments and pods on host ports stop the old
 * version first. Only the highest revision counts as the unit (status,
 * supervision, logs); older pods left by an interrupted rollout are stopped
 * by the next supervision pass, after an agent restart too.
 */
export function createPodmanRuntime(options: PodmanRuntimeOptions): Runtime {
  return new PodmanRuntime(options);
}

class PodmanRuntime implements Runtime {
  readonly name = 'podman';
  readonly #dir: string;
  readonly #owner: string;
  readonly #userName: string;
  readonly #backoff: BackoffOptions;
  readonly #resetMs: number;
  readonly #resyncMs: number;
  readonly #log: Pick<Logger, 'info' | 'warn'> | undefined;
  readonly #env: Readonly<Record<string, string>>;
  #rootful!: PodmanHost;
  #rootless: Promise<PodmanHost> | undefined;
  readonly #events: PodmanEvents[] = [];
  readonly #pending = new Map<string, Pending>();
  readonly #supervised = new Map<string, Supervised>();
  /** Pods being stopped in the background, by pod id. */
  readonly #retiring = new Map<string, Retiring>();
  /** Images known to be in a store (cleared when a play fails): saves a podman call per apply. */
  readonly #present = new WeakMap<PodmanHost, Set<string>>();
  /** Bumped on every change seen or made; a snapshot read at the same generation is still current. */
  #generation = 0;
  #cache: { generation: number; at: number; units: Promise<UnitPods[]> } | undefined;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #listeners = new Set<() => void>();
  #resync: NodeJS.Timeout | undefined;
  #supervising: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(options: PodmanRuntimeOptions) {
    this.#dir = join(resolve(options.dataDir), 'podman');
    this.#owner = options.owner ?? digest('sha256', resolve(options.dataDir), 'hex').slice(0, 12);
    this.#userName = options.rootlessUser ?? 'outpost-workloads';
    this.#backoff = { initialMs: 1000, maxMs: 300_000, jitter: 0, ...options.restartBackoff };
    this.#resetMs = options.backoffResetMs ?? 600_000;
    this.#resyncMs = options.resyncMs ?? 10_000;
    this.#log = options.logger;
    this.#env = options.env ?? {};
  }

  async start(): Promise<void> {
    await mkdir(join(this.#dir, 'units'), { recursive: true, mode: 0o700 });
    const conf = join(this.#dir, 'containers.conf');
    await writeContainersConf(conf);
    this.#rootful = new PodmanHost(conf);
    await this.#rootful.run(['version', '--format', '{{.Client.Version}}']).catch((error: unknown) => {
      throw new Error('podman runtime: podman does not run (install podman and runc)', { cause: error });
    });
    this.#watch(this.#rootful);
    // Rootless units of an earlier agent are adopted too; the user is created only on first use.
    if (await findRootlessUser(this.#userName).catch(() => undefined)) {
      await this.#rootlessHost().catch((error: unknown) =>
        this.#log?.warn(
          { err: error, user: this.#userName },
          'rootless podman unusable; rootless units will fail',
        ),
      );
    }
    for (const unit of await this.#snapshot()) await this.#loadRestarts(unit);
    await this.#supervise();
    this.#resync = setInterval(() => this.#kick(), this.#resyncMs);
    this.#resync.unref();
  }

  apply(unit: DesiredUnit): Promise<void> {
    return this.#locked(unit.id, () => this.#apply(unit, false));
  }

  remove(id: string): Promise<void> {
    return this.#locked(id, async () => {
      this.#pending.delete(id);
      for (const host of await this.#hosts()) await this.#removePods(host, id, { volumes: true });
      this.#changed();
      this.#notify();
    });
  }

  async list(): Promise<ActualUnit[]> {
    const units = await this.#snapshot({ cached: true });
    const actual: ActualUnit[] = [];
    for (const unit of units) {
      const pending = this.#pending.get(unit.id);
      if (pending) continue; // reported below, with why it is not running
      const complete =
        unit.pods.length === unit.replicas && unit.pods.every((p) => p.labels[LABELS.hash] === unit.hash);
      actual.push({
        id: unit.id,
        source: unit.source,
        ref: unit.ref,
        // An incomplete unit (a replica removed behind the agent's back) reports no hash, so it is applied again.
        hash: complete ? unit.hash : '',
        objectHash: unit.objectHash,
        status: statusOf(unit, (c) => this.#supervision(c)),
      });
    }
    for (const [id, { unit, status }] of this.#pending) {
      actual.push({
        id,
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
    const unit = (await this.#snapshot({ cached: true })).find((u) => u.id === id);
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
    for (const events of this.#events) events.stop();
    for (const supervised of this.#supervised.values()) clearTimeout(supervised.timer);
    await this.#supervising?.catch(() => {});
    await Promise.allSettled(this.#locks.values());
    await Promise.allSettled([...this.#retiring.values()].map((r) => r.done));
    if (options.stopUnits) {
      for (const unit of await this.#snapshot())
        await this.#removePods(unit.host, unit.id, { volumes: true });
      const rootless = await this.#rootless?.catch(() => undefined);
      // This agent's folder in the rootless user's home: nothing of it is left running.
      if (rootless?.user)
        await rm(rootlessStateDir(rootless.user, this.#owner), { recursive: true, force: true });
    }
    this.#listeners.clear();
  }

  /** `retry`: a parked unit is tried again (else a parked unit with the same hash is left as it is). */
  async #apply(unit: DesiredUnit, retry: boolean): Promise<void> {
    const host = unit.rootless ? await this.#rootlessHost() : this.#rootful;
    for (const other of await this.#hosts()) {
      if (other !== host) await this.#removePods(other, unit.id, { volumes: true }); // rootless flag flipped
    }
    const current = (await snapshotOf(host, this.#owner, unit.id))[0];
    const pending = this.#pending.get(unit.id);
    const upToDate =
      current &&
      current.pods.length === current.replicas &&
      current.pods.every((p) => p.labels[LABELS.hash] === unit.hash);
    if (pending ? pending.unit.hash === unit.hash && !retry : upToDate) {
      if (current) this.#retire(host, current.id, current.stale);
      return;
    }

    const unitDir = await this.#unitDir(host, unit.id);
    // A new version starts beside the running one when both can coexist, else after it stopped.
    const surge = current !== undefined && rolloutOf(unit).kind === 'surge';
    const revision = current ? current.revision + 1 : 0;
    // Recreated pods keep their names (the old ones are gone first); surged ones take free names.
    const taken = new Set([
      ...(surge ? [...current.pods, ...current.stale].map((p) => p.name) : []),
      ...[...this.#retiring.values()].filter((r) => r.unit === unit.id).map((r) => r.name),
    ]);
    const podName = (replica: number) => {
      let slot = 0;
      while (taken.has(podNameOf(unit.id, replica, slot))) slot++;
      return podNameOf(unit.id, replica, slot);
    };
    let play: ReturnType<typeof renderKubePlay>;
    try {
      play = renderKubePlay(unit, this.#owner, join(unitDir, 'volumes'), this.#env, { revision, podName });
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      return this.#park(host, unit, { reason: 'CreateContainerConfigError', message: error.message });
    }
    const missing = await this.#missingImages(host, play.images);
    if (missing.length > 0) return this.#park(host, unit, imageNotPresent(host, missing));
    this.#pending.delete(unit.id);
    if (current && !surge) await this.#removePods(host, unit.id, { volumes: false }, current);
    if (current && surge && play.dataVolumes.length > 0) {
      // The old pods keep their ConfigMap/Secret files while they stop (a bind mount follows the folder).
      const kept = join(unitDir, `${OLD_VOLUMES}${current.revision}`);
      await rm(kept, { recursive: true, force: true });
      await rename(join(unitDir, 'volumes'), kept).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    await rm(join(unitDir, RESTARTS_FILE), { force: true }); // a new version starts counting from 0
    try {
      await materialiseVolumes(play.dataVolumes, unitDir, unit);
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      return this.#park(host, unit, { reason: 'CreateContainerConfigError', message: error.message });
    }
    if (host.user) await chownTree(unitDir, host.user.uid, host.user.gid);
    try {
      await host.run(['play', 'kube', '--start=true', '-'], { input: play.yaml });
    } catch (error) {
      if (!(error instanceof PodmanError)) throw error;
      this.#present.delete(host); // an image may have gone since it was seen
      const created = (await snapshotOf(host, this.#owner, unit.id))[0];
      const pods = created?.revision === revision ? created.pods : [];
      if (pods.length < play.podNames.length) {
        const gone = await this.#missingImages(host, play.images);
        await this.#removePods(host, unit.id, { volumes: false });
        // A pod of these names without containers (a play interrupted half-way) is in no snapshot.
        await host
          .run([
            'pod',
            'rm',
            '--force',
            '--ignore',
            '--time',
            String(play.gracePeriodSeconds),
            ...play.podNames,
          ])
          .catch(() => {});
        return this.#park(
          host,
          unit,
          gone.length > 0 ? imageNotPresent(host, gone) : { reason: 'StartFailed', message: error.message },
        );
      }
      // The pods exist but a container did not start (bad command): report it and let supervision retry.
      for (const pod of pods) {
        for (const container of pod.containers) {
          if (container.startedAt <= 0) this.#supervisedOf(container).startError = error.message;
        }
      }
    }
    if (current && surge) this.#retire(host, unit.id, [...current.pods, ...current.stale]);
    this.#log?.info(
      { unit: unit.id, pods: play.podNames.length, rootless: unit.rootless, revision, surge },
      'unit applied',
    );
    this.#changed();
    this.#notify();
  }

  /**
   * Stops `pods` (an older version) in the background, each with its own
   * grace period; pods already being stopped are left to that. The unit's
   * new version runs meanwhile.
   */
  #retire(host: PodmanHost, unitId: string, pods: readonly PodState[]): void {
    const fresh = pods.filter((pod) => !this.#retiring.has(pod.id));
    if (fresh.length === 0) return;
    const done = this.#stopPods(host, fresh).then(
      async () => {
        for (const pod of fresh) this.#retiring.delete(pod.id);
        if (![...this.#retiring.values()].some((r) => r.unit === unitId))
          await this.#dropOldVolumes(host, unitId);
        return true;
      },
      (error: unknown) => {
        for (const pod of fresh) this.#retiring.delete(pod.id);
        this.#log?.warn({ unit: unitId, err: error }, 'stopping the old version failed; retried on resync');
        return false;
      },
    );
    for (const pod of fresh) this.#retiring.set(pod.id, { unit: unitId, name: pod.name, done });
    this.#log?.info({ unit: unitId, pods: fresh.map((p) => p.name) }, 'stopping the old version');
  }

  /** `podman pod rm` of `pods`, each group with its own grace period (or waits for its retirement). */
  async #stopPods(host: PodmanHost, pods: readonly PodState[]): Promise<void> {
    const waits: Promise<unknown>[] = [];
    const byGrace = new Map<number, string[]>();
    for (const pod of pods) {
      const retiring = this.#retiring.get(pod.id);
      if (retiring) {
        // A retirement that failed leaves the pod: remove it here instead.
        waits.push(retiring.done.then((gone) => (gone ? undefined : this.#stopPods(host, [pod]))));
        continue;
      }
      const grace = Number(pod.labels[LABELS.grace] ?? 10);
      byGrace.set(grace, [...(byGrace.get(grace) ?? []), pod.name]);
    }
    for (const [grace, names] of byGrace) {
      waits.push(host.run(['pod', 'rm', '--force', '--ignore', '--time', String(grace), ...names]));
    }
    await Promise.all(waits);
    for (const pod of pods) for (const c of pod.containers) this.#forget(c.name);
    this.#changed();
  }

  /** Removes the ConfigMap/Secret folders kept for stopped versions (none of the unit's old pods is left). */
  async #dropOldVolumes(host: PodmanHost, unitId: string): Promise<void> {
    const dir = join(this.#unitsDir(host), unitId);
    const entries = await readdir(dir).catch(() => [] as string[]);
    for (const entry of entries) {
      if (entry.startsWith(OLD_VOLUMES)) await rm(join(dir, entry), { recursive: true, force: true });
    }
  }

  /** Removes the unit's pods, every version (and StatefulSet claim volumes when asked) from `host`. */
  async #removePods(
    host: PodmanHost,
    id: string,
    options: { volumes: boolean },
    known?: UnitPods,
  ): Promise<void> {
    const unit = known ?? (await snapshotOf(host, this.#owner, id))[0];
    if (unit) await this.#stopPods(host, [...unit.pods, ...unit.stale]);
    if (options.volumes) {
      const names = (await host.run(['volume', 'ls', '--format', '{{.Name}}'])).split('\n');
      const claims = names.filter((name) => name.startsWith(`${id}-`));
      if (claims.length > 0) await host.run(['volume', 'rm', '--force', ...claims]);
      await rm(join(this.#unitsDir(host), id), { recursive: true, force: true });
    }
  }

  /** Records why a unit does not run, after removing an older version of it. */
  async #park(host: PodmanHost, unit: DesiredUnit, why: { reason: string; message: string }): Promise<void> {
    await this.#removePods(host, unit.id, { volumes: false });
    const before = this.#pending.get(unit.id);
    const same = before?.unit.hash === unit.hash && before.status.message === why.message;
    const backoff = same
      ? before.backoff
      : new Backoff({ initialMs: this.#resyncMs, maxMs: 300_000, jitter: 0 });
    const status: UnitStatus = { phase: 'Pending', ready: false, restarts: 0, ...why };
    this.#pending.set(unit.id, { unit, status, backoff, retryAt: monotonicMs() + backoff.next() });
    // Retries park it again: log and notify only when something changed, not per attempt.
    if (same) return;
    this.#log?.warn({ unit: unit.id, reason: why.reason, message: why.message }, 'unit not started');
    this.#notify();
  }

  /**
   * Images absent from `host`; a rootless store gets a copy of the rootful
   * store's image when there is one. Images seen present are remembered per
   * store until a play fails (images are only ever built or loaded locally,
   * and a removed image makes `play kube` fail, which clears the memory).
   */
  async #missingImages(host: PodmanHost, images: readonly string[]): Promise<string[]> {
    const present = this.#present.get(host) ?? new Set<string>();
    this.#present.set(host, present);
    const missing: string[] = [];
    for (const image of images) {
      if (present.has(image)) continue;
      if (await host.succeeds(['image', 'exists', image])) {
        present.add(image);
        continue;
      }
      if (host.rootless && (await this.#rootful.succeeds(['image', 'exists', image]))) {
        try {
          await copyImage(this.#rootful, host, image);
          present.add(image);
          continue;
        } catch (error) {
          this.#log?.warn({ image, err: error }, 'copy image to the rootless store failed');
        }
      }
      missing.push(image);
    }
    return missing;
  }

  /** Restart counts survive an agent restart in the unit's folder (adoption keeps reporting them). */
  async #saveRestarts(unit: UnitPods): Promise<void> {
    const counts: Record<string, number> = {};
    for (const pod of unit.pods) {
      for (const container of pod.containers) {
        const restarts = this.#supervised.get(container.name)?.restarts;
        if (restarts) counts[container.name] = restarts;
      }
    }
    const file = join(this.#unitsDir(unit.host), unit.id, RESTARTS_FILE);
    await writeFile(file, JSON.stringify(counts)).catch((error: unknown) =>
      this.#log?.warn({ unit: unit.id, err: error }, 'could not save restart counts'),
    );
  }

  async #loadRestarts(unit: UnitPods): Promise<void> {
    const file = join(this.#unitsDir(unit.host), unit.id, RESTARTS_FILE);
    const counts = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as Record<string, unknown>;
    for (const pod of unit.pods) {
      for (const container of pod.containers) {
        const count = counts[container.name];
        if (typeof count === 'number') this.#supervisedOf(container).restarts = count;
      }
    }
  }

  #supervision(container: ContainerState) {
    const known = this.#supervised.get(container.name);
    return {
      restarts: known?.restarts ?? 0,
      ...(known?.nextAt !== undefined ? { backoffMs: Math.max(0, known.nextAt - monotonicMs()) } : {}),
      ...(known?.startError ? { startError: known.startError } : {}),
    };
  }

  #supervisedOf(container: ContainerState): Supervised {
    let known = this.#supervised.get(container.name);
    if (!known) {
      known = { restarts: 0, backoff: new Backoff(this.#backoff) };
      this.#supervised.set(container.name, known);
    }
    return known;
  }

  #forget(containerName: string): void {
    clearTimeout(this.#supervised.get(containerName)?.timer);
    this.#supervised.delete(containerName);
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

  /** Schedules restarts of stopped containers per restart policy, and retries parked units. */
  async #supervise(): Promise<void> {
    for (const unit of await this.#snapshot()) {
      if (this.#locks.has(unit.id)) continue; // being applied or removed
      // An older version left by an interrupted rollout (agent restart, failed stop).
      this.#retire(unit.host, unit.id, unit.stale);
      for (const pod of unit.pods) {
        for (const container of pod.containers) {
          const known = this.#supervisedOf(container);
          if (container.state === 'running') {
            known.startedAt ??= monotonicMs();
            if (monotonicMs() - known.startedAt > this.#resetMs) known.backoff.reset();
            known.startError = undefined;
          } else if (shouldRestart(unit.restartPolicy, container) && !known.timer) {
            const wait = known.backoff.next();
            known.nextAt = monotonicMs() + wait;
            known.timer = setTimeout(() => void this.#restart(unit, pod.name, container), wait);
          }
        }
      }
    }
    for (const { unit, retryAt } of [...this.#pending.values()]) {
      if (this.#closed) return;
      if (monotonicMs() < retryAt) continue;
      // #apply parks it again if it still cannot run; a newer apply or a remove may have come meanwhile.
      await this.#locked(unit.id, () =>
        this.#pending.get(unit.id)?.unit === unit ? this.#apply(unit, true) : Promise.resolve(),
      ).catch((error: unknown) =>
        this.#log?.warn({ unit: unit.id, err: error }, 'retry of a parked unit failed'),
      );
    }
  }

  async #restart(unit: UnitPods, podName: string, container: ContainerState): Promise<void> {
    const known = this.#supervisedOf(container);
    known.timer = undefined;
    known.nextAt = undefined;
    if (this.#closed) return;
    await this.#locked(unit.id, async () => {
      const pod = (await snapshotOf(unit.host, this.#owner, unit.id))[0]?.pods.find(
        (p) => p.name === podName,
      );
      const now = pod?.containers.find((c) => c.name === container.name);
      if (!pod || !now || !shouldRestart(unit.restartPolicy, now)) return;
      try {
        // A pod whose last container died has its infra container stopped too (podman's pod exit policy).
        const infra = await infraRunning(unit.host, pod.id);
        await unit.host.run(infra ? ['start', now.name] : ['pod', 'start', pod.name]);
        known.startError = undefined;
      } catch (error) {
        known.startError = error instanceof Error ? error.message : String(error);
      }
      known.restarts++;
      known.startedAt = monotonicMs();
      this.#changed();
      await this.#saveRestarts(unit);
      this.#log?.info(
        { unit: unit.id, container: now.name, restarts: known.restarts },
        'container restarted',
      );
    });
    this.#notify();
    this.#kick();
  }

  /**
   * Every unit in every store. `cached`: the last read is reused while no
   * change was seen or made since (events, applies, removals, restarts) and
   * it is younger than {@link SNAPSHOT_TTL_MS}; supervision always reads anew,
   * so a missed event costs at most that long.
   */
  #snapshot(options: { cached?: boolean } = {}): Promise<UnitPods[]> {
    const cache = this.#cache;
    if (
      options.cached &&
      cache &&
      cache.generation === this.#generation &&
      monotonicMs() - cache.at < SNAPSHOT_TTL_MS
    )
      return cache.units;
    const generation = this.#generation;
    const units = this.#hosts().then(async (hosts) =>
      (await Promise.all(hosts.map((host) => snapshotOf(host, this.#owner)))).flat(),
    );
    this.#cache = { generation, at: monotonicMs(), units };
    units.catch(() => {
      if (this.#cache?.units === units) this.#cache = undefined;
    });
    return units;
  }

  /** Something changed in podman (seen or made): the next {@link list} reads podman again. */
  #changed(): void {
    this.#generation++;
  }

  async #hosts(): Promise<PodmanHost[]> {
    return this.#rootless ? [this.#rootful, await this.#rootless] : [this.#rootful];
  }

  #rootlessHost(): Promise<PodmanHost> {
    this.#rootless ??= (async () => {
      const user = await setupRootlessUser(this.#userName);
      const stateDir = rootlessStateDir(user, this.#owner);
      await ownedDir(join(user.home, '.outpost'), user);
      await ownedDir(stateDir, user);
      await ownedDir(join(stateDir, 'units'), user);
      const conf = join(stateDir, 'containers.conf');
      await writeContainersConf(conf, user);
      const host = new PodmanHost(conf, user);
      this.#watch(host);
      return host;
    })().catch((error: unknown) => {
      this.#rootless = undefined;
      throw error;
    });
    return this.#rootless;
  }

  #unitsDir(host: PodmanHost): string {
    return host.user ? join(rootlessStateDir(host.user, this.#owner), 'units') : join(this.#dir, 'units');
  }

  async #unitDir(host: PodmanHost, id: string): Promise<string> {
    return ownedDir(join(this.#unitsDir(host), id), host.user);
  }

  #watch(host: PodmanHost): void {
    const events = new PodmanEvents(host, this.#owner, (event: PodmanEvent) => {
      // An old version stopping in the background changes no unit's status: its pods are not the unit's.
      if (event.podId && this.#retiring.has(event.podId)) return;
      this.#changed();
      this.#notify();
      this.#kick();
    });
    this.#events.push(events);
    events.start();
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

  /** Runs `task` after every earlier task of the same unit (apply, remove, restart). */
  async #locked<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(task);
    const tail = run.catch(() => {});
    this.#locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    }
  }
}

/** Per unit folder: restart counts by container name. */
const RESTARTS_FILE = 'restarts.json';

/** Per unit folder: `volumes.<revision>` keeps an old version's ConfigMap/Secret files while it stops. */
const OLD_VOLUMES = 'volumes.';

/** How long {@link PodmanRuntime.list} may answer from the last read when nothing changed meanwhile. */
const SNAPSHOT_TTL_MS = 2000;

function imageNotPresent(host: PodmanHost, images: readonly string[]): { reason: string; message: string } {
  return {
    reason: 'ImageNotPresent',
    message: `image ${images.join(', ')} is not present on the device (${host.rootless ? 'rootless' : 'rootful'} store) and images are never pulled; build or load it locally`,
  };
}

/** `podman save IMAGE | podman load` from one store into another. */
async function copyImage(from: PodmanHost, to: PodmanHost, image: string): Promise<void> {
  const save = from.spawn(['save', image]);
  const load = to.spawnWithInput(['load', '--quiet']);
  save.stdout?.pipe(load.stdin!);
  const exit = (child: typeof save) =>
    new Promise<number | null>((done) => {
      child.on('close', done);
      child.on('error', () => done(-1));
    });
  const [saved, loaded] = await Promise.all([exit(save), exit(load)]);
  if (saved !== 0 || loaded !== 0)
    throw new Error(`copy image ${image}: save exit ${saved}, load exit ${loaded}`);
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, uid, gid);
    else await chown(path, uid, gid);
  }
}
