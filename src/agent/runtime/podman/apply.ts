/**
 * Applying and removing units with `podman play kube`. A new version
 * replaces the running one as {@link rolloutOf} says: surged (the new pods
 * start under free names, the old ones are then stopped in the background)
 * or recreated (the old pods stop first, the new ones take their names). A
 * unit that cannot be played (image not present, ConfigMap key missing) is
 * parked: reported with why, and retried with backoff.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { monotonicMs } from '../../../util/index.ts';
import { Backoff } from '../../backoff.ts';
import { ContainerConfigError } from '../container-env.ts';
import { podSpecOf } from '../pod-spec.ts';
import type { DesiredUnit, UnitStatus } from '../runtime.ts';
import type { UnitLocks } from '../unit-locks.ts';
import { materialiseVolumes, refuseHiddenHostPath } from '../volumes.ts';
import { PodmanError, type PodmanHost } from './exec.ts';
import { ImageCheck, imageNotPresent, imagesOf } from './images.ts';
import { podNameOf, renderKubePlay } from './kube.ts';
import { rolloutOf } from './rollout.ts';
import { chownTree } from './rootless.ts';
import { runsVersion, type Snapshots } from './snapshot.ts';
import { keepOldVolumes, type PodStopper } from './stop.ts';
import type { PodmanStores } from './stores.ts';
import { resetRestartCounts, type Supervisor } from './supervise.ts';

/** Options of {@link UnitApplier}. */
export interface UnitApplierOptions {
  readonly stores: PodmanStores;
  readonly snapshots: Snapshots;
  readonly locks: UnitLocks;
  readonly stopper: PodStopper;
  readonly supervisor: Pick<Supervisor, 'startFailed'>;
  /** Variables every container gets (see `PodmanRuntimeOptions.env`). */
  readonly env: Readonly<Record<string, string>>;
  /** Folders no hostPath volume may show (the agent's data dir). */
  readonly hiddenDirs: readonly string[];
  /** The first delay before a parked unit is retried. */
  readonly resyncMs: number;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
  /** Called when what a unit reports changed: applied, removed, parked for a new reason. */
  readonly onChange: () => void;
  /** Whether the runtime is closing (parked units are no longer retried). */
  readonly isClosed: () => boolean;
}

/** A unit that could not be played: reported, retried on resync. */
interface Parked {
  readonly unit: DesiredUnit;
  readonly status: UnitStatus;
  /** Retries back off (from `resyncMs` up to 5 minutes) while the cause stays the same. */
  readonly backoff: Backoff;
  readonly retryAt: number;
}

/** Plays units into podman and removes them, one change at a time per unit. */
export class UnitApplier {
  readonly #options: UnitApplierOptions;
  readonly #images: ImageCheck;
  readonly #parked = new Map<string, Parked>();

  constructor(options: UnitApplierOptions) {
    this.#options = options;
    this.#images = new ImageCheck(() => options.stores.rootful, options.log);
  }

  /** Runs `unit`'s current version (nothing when it already does, or is parked with the same hash). */
  apply(unit: DesiredUnit): Promise<void> {
    return this.#options.locks.run(unit.id, () => this.#apply(unit, false));
  }

  /** Removes every pod of unit `id`, in every store, with its claim volumes and folder. */
  remove(id: string): Promise<void> {
    return this.#options.locks.run(id, async () => {
      this.#parked.delete(id);
      const { stores, stopper } = this.#options;
      for (const host of await stores.hosts()) await stopper.removeUnit(host, id, { volumes: true });
      this.#options.snapshots.changed();
      this.#options.onChange();
    });
  }

  /** The units that do not run, with the status that says why. */
  parked(): Iterable<{ readonly unit: DesiredUnit; readonly status: UnitStatus }> {
    return this.#parked.values();
  }

  /** Whether unit `id` is parked (its pods, if any, are not what it reports). */
  isParked(id: string): boolean {
    return this.#parked.has(id);
  }

  /** Tries again every parked unit whose backoff has passed. */
  async retryParked(): Promise<void> {
    for (const { unit, retryAt } of [...this.#parked.values()]) {
      if (this.#options.isClosed()) return;
      if (monotonicMs() < retryAt) continue;
      // #apply parks it again if it still cannot run; a newer apply or a remove may have come meanwhile.
      await this.#options.locks
        .run(unit.id, () =>
          this.#parked.get(unit.id)?.unit === unit ? this.#apply(unit, true) : Promise.resolve(),
        )
        .catch((error: unknown) =>
          this.#options.log?.warn({ unit: unit.id, err: error }, 'retry of a parked unit failed'),
        );
    }
  }

  /** The images of `unit` not in its store yet, after copying those the rootful store has (see Runtime.prefetch). */
  async prefetch(unit: DesiredUnit): Promise<readonly string[]> {
    const host = await this.#options.stores.host(unit.rootless);
    return this.#images.missing(host, imagesOf(unit.object));
  }

  /** `retry`: a parked unit is tried again (else a parked unit with the same hash is left as it is). */
  async #apply(unit: DesiredUnit, retry: boolean): Promise<void> {
    const { stores, snapshots, stopper, log } = this.#options;
    const host = await stores.host(unit.rootless);
    for (const other of await stores.hosts()) {
      if (other !== host) await stopper.removeUnit(other, unit.id, { volumes: true }); // rootless flag flipped
    }
    const current = await snapshots.unit(host, unit.id);
    const parked = this.#parked.get(unit.id);
    const upToDate = current !== undefined && runsVersion(current, unit.hash);
    if (parked ? parked.unit.hash === unit.hash && !retry : upToDate) {
      if (current) stopper.retire(host, current.id, current.stale);
      return;
    }

    const unitDir = await stores.unitDir(host, unit.id);
    // A new version starts beside the running one when both can coexist, else after it stopped.
    const surge = current !== undefined && rolloutOf(unit).kind === 'surge';
    const revision = current ? current.revision + 1 : 0;
    // Recreated pods keep their names (the old ones are gone first); surged ones take free names.
    const taken = new Set([
      ...(surge ? [...current.pods, ...current.stale].map((p) => p.name) : []),
      ...stopper.retiringNames(unit.id),
    ]);
    const podName = (replica: number) => {
      let slot = 0;
      while (taken.has(podNameOf(stores.owner, unit.id, replica, slot))) slot++;
      return podNameOf(stores.owner, unit.id, replica, slot);
    };
    let play: ReturnType<typeof renderKubePlay>;
    try {
      for (const volume of podSpecOf(unit.object).spec.volumes ?? [])
        refuseHiddenHostPath(volume, this.#options.hiddenDirs);
      play = renderKubePlay(unit, stores.owner, join(unitDir, 'volumes'), this.#options.env, {
        revision,
        podName,
      });
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      return this.#park(host, unit, { reason: 'CreateContainerConfigError', message: error.message });
    }
    const missing = await this.#images.missing(host, play.images);
    if (missing.length > 0) return this.#park(host, unit, imageNotPresent(host, missing));
    this.#parked.delete(unit.id);
    if (current && !surge) await stopper.removeUnit(host, unit.id, { volumes: false }, current);
    // The old pods keep their ConfigMap/Secret files while they stop.
    if (current && surge && play.dataVolumes.length > 0) await keepOldVolumes(unitDir, current.revision);
    await resetRestartCounts(unitDir);
    try {
      await materialiseVolumes(play.dataVolumes, unitDir, unit);
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      return this.#park(host, unit, { reason: 'CreateContainerConfigError', message: error.message });
    }
    if (host.user) await chownTree(unitDir, host.user);
    try {
      await host.run(['play', 'kube', '--start=true', '-'], { input: play.yaml });
    } catch (error) {
      if (!(error instanceof PodmanError)) throw error;
      this.#images.forget(host); // an image may have gone since it was seen
      const created = await snapshots.unit(host, unit.id);
      const pods = created?.revision === revision ? created.pods : [];
      if (pods.length < play.podNames.length) {
        const gone = await this.#images.missing(host, play.images);
        await stopper.removeUnit(host, unit.id, { volumes: false });
        // A pod of these names without containers (a play interrupted half-way) is in no snapshot.
        const grace = String(play.gracePeriodSeconds);
        await host
          .run(['pod', 'rm', '--force', '--ignore', '--time', grace, ...play.podNames])
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
          if (container.startedAt <= 0) this.#options.supervisor.startFailed(container, error.message);
        }
      }
    }
    if (current && surge) stopper.retire(host, unit.id, [...current.pods, ...current.stale]);
    log?.info(
      { unit: unit.id, pods: play.podNames.length, rootless: unit.rootless, revision, surge },
      'unit applied',
    );
    snapshots.changed();
    this.#options.onChange();
  }

  /** Records why a unit does not run, after removing an older version of it. */
  async #park(host: PodmanHost, unit: DesiredUnit, why: { reason: string; message: string }): Promise<void> {
    await this.#options.stopper.removeUnit(host, unit.id, { volumes: false });
    const before = this.#parked.get(unit.id);
    const same = before?.unit.hash === unit.hash && before.status.message === why.message;
    const backoff = same
      ? before.backoff
      : new Backoff({ initialMs: this.#options.resyncMs, maxMs: 300_000, jitter: 0 });
    const status: UnitStatus = { phase: 'Pending', ready: false, restarts: 0, ...why };
    this.#parked.set(unit.id, { unit, status, backoff, retryAt: monotonicMs() + backoff.next() });
    // Retries park it again: log and notify only when something changed, not per attempt.
    if (same) return;
    this.#options.log?.warn({ unit: unit.id, reason: why.reason, message: why.message }, 'unit not started');
    this.#options.onChange();
  }
}
