/**
 * Stopping a unit's pods: an old version in the background while the new
 * one runs (a surge rollout, see rollout.ts), or every version now
 * (a recreate, a removal), and the folders and volumes they leave.
 */
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PodmanHost } from './exec.ts';
import { LABELS } from './kube.ts';
import type { PodState, Snapshots, UnitPods } from './snapshot.ts';
import type { PodmanStores } from './stores.ts';

/** Options of {@link PodStopper}. */
export interface PodStopperOptions {
  readonly stores: PodmanStores;
  readonly snapshots: Snapshots;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
  /** Called with the podman name of every container of a stopped pod: its supervision ends. */
  readonly onContainerGone: (containerName: string) => void;
}

/** A pod of an older version being stopped in the background. */
interface Retiring {
  readonly unit: string;
  readonly name: string;
  /** Resolves true once the pod is gone, false if `pod rm` failed (the next supervision retries). */
  readonly done: Promise<boolean>;
}

/** Per unit folder: `volumes.<revision>` keeps an old version's ConfigMap/Secret files while it stops. */
const OLD_VOLUMES = 'volumes.';

/**
 * Keeps the unit's current ConfigMap/Secret folder (`volumes`) for its pods
 * of `revision`, which are about to be stopped in the background, so that
 * the new version can write its own: a bind mount follows the folder.
 */
export async function keepOldVolumes(unitDir: string, revision: number): Promise<void> {
  const kept = join(unitDir, `${OLD_VOLUMES}${revision}`);
  await rm(kept, { recursive: true, force: true });
  await rename(join(unitDir, 'volumes'), kept).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/** Stops pods, each with its own grace period, and knows which are still being stopped in the background. */
export class PodStopper {
  readonly #options: PodStopperOptions;
  /** Pods being stopped in the background, by pod id. */
  readonly #retiring = new Map<string, Retiring>();

  constructor(options: PodStopperOptions) {
    this.#options = options;
  }

  /**
   * Stops `pods` (an older version) in the background, each with its own
   * grace period; pods already being stopped are left to that. The unit's
   * new version runs meanwhile.
   */
  retire(host: PodmanHost, unitId: string, pods: readonly PodState[]): void {
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
        this.#options.log?.warn(
          { unit: unitId, err: error },
          'stopping the old version failed; retried on resync',
        );
        return false;
      },
    );
    for (const pod of fresh) this.#retiring.set(pod.id, { unit: unitId, name: pod.name, done });
    this.#options.log?.info({ unit: unitId, pods: fresh.map((p) => p.name) }, 'stopping the old version');
  }

  /** Whether pod `podId` is being stopped in the background (its events change no unit's status). */
  isRetiring(podId: string): boolean {
    return this.#retiring.has(podId);
  }

  /** Names of the unit's pods being stopped in the background: a new version must not take them. */
  retiringNames(unitId: string): string[] {
    return [...this.#retiring.values()].filter((r) => r.unit === unitId).map((r) => r.name);
  }

  /** Removes the unit's pods, every version (and StatefulSet claim volumes when asked) from `host`. */
  async removeUnit(
    host: PodmanHost,
    id: string,
    options: { volumes: boolean },
    known?: UnitPods,
  ): Promise<void> {
    const unit = known ?? (await this.#options.snapshots.unit(host, id));
    if (unit) await this.#stopPods(host, [...unit.pods, ...unit.stale]);
    if (options.volumes) {
      const names = (await host.run(['volume', 'ls', '--format', '{{.Name}}'])).split('\n');
      // This agent's claims only (claimVolumeOf): another agent's unit of the same id keeps its data.
      const claims = names.filter((name) => name.startsWith(`${this.#options.stores.owner}-${id}-`));
      if (claims.length > 0) await host.run(['volume', 'rm', '--force', ...claims]);
      await rm(join(this.#options.stores.unitsDir(host), id), { recursive: true, force: true });
    }
  }

  /** Resolves once every background stop started so far has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#retiring.values()].map((r) => r.done));
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
    for (const pod of pods) for (const c of pod.containers) this.#options.onContainerGone(c.name);
    this.#options.snapshots.changed();
  }

  /** Removes the ConfigMap/Secret folders kept for stopped versions (none of the unit's old pods is left). */
  async #dropOldVolumes(host: PodmanHost, unitId: string): Promise<void> {
    const dir = join(this.#options.stores.unitsDir(host), unitId);
    const entries = await readdir(dir).catch(() => [] as string[]);
    for (const entry of entries) {
      if (entry.startsWith(OLD_VOLUMES)) await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}
