/**
 * The agent's restart policy for podman containers (podman's own is set to
 * `Never`): a stopped container is started again per its unit's
 * `restartPolicy` after a capped exponential backoff, which resets once it
 * ran long enough. Restart counts survive an agent restart in the unit's
 * folder.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { monotonicMs } from '../../../util/index.ts';
import { Backoff, type BackoffOptions } from '../../backoff.ts';
import type { UnitLocks } from '../unit-locks.ts';
import { type ContainerState, infraRunning, type Snapshots, type UnitPods } from './snapshot.ts';
import { type Supervision, shouldRestart } from './status.ts';
import type { PodmanStores } from './stores.ts';

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  readonly stores: PodmanStores;
  readonly snapshots: Snapshots;
  readonly locks: UnitLocks;
  /** Delays between restarts of a crashed container. */
  readonly backoff: BackoffOptions;
  /** A container that ran this long gets its restart backoff reset. */
  readonly backoffResetMs: number;
  readonly log?: Pick<Logger, 'info' | 'warn'>;
  /** Called after each restart: the unit's status changed, and podman should be re-read. */
  readonly onRestarted: () => void;
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

/** Per unit folder: restart counts by container name. */
const RESTARTS_FILE = 'restarts.json';

/** Clears a unit's restart counts: a new version starts counting from 0. */
export async function resetRestartCounts(unitDir: string): Promise<void> {
  await rm(join(unitDir, RESTARTS_FILE), { force: true });
}

/** Restarts stopped containers and remembers, per container, what status reports about it. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #supervised = new Map<string, Supervised>();
  #stopped = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Schedules a restart of every stopped container of `unit` that its restart policy starts again. */
  check(unit: UnitPods): void {
    for (const pod of unit.pods) {
      for (const container of pod.containers) {
        const known = this.#supervisedOf(container);
        if (container.state === 'running') {
          known.startedAt ??= monotonicMs();
          if (monotonicMs() - known.startedAt > this.#options.backoffResetMs) known.backoff.reset();
          known.startError = undefined;
        } else if (shouldRestart(unit.restartPolicy, container) && !known.timer) {
          const wait = known.backoff.next();
          known.nextAt = monotonicMs() + wait;
          known.timer = setTimeout(() => void this.#restart(unit, pod.name, container), wait);
        }
      }
    }
  }

  /** What status reports about `container` beyond podman's view. */
  supervision(container: ContainerState): Supervision {
    const known = this.#supervised.get(container.name);
    return {
      restarts: known?.restarts ?? 0,
      ...(known?.nextAt !== undefined ? { backoffMs: Math.max(0, known.nextAt - monotonicMs()) } : {}),
      ...(known?.startError ? { startError: known.startError } : {}),
    };
  }

  /** Records why `container` did not start when its pod was played (reported until it runs). */
  startFailed(container: ContainerState, message: string): void {
    this.#supervisedOf(container).startError = message;
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
      known = { restarts: 0, backoff: new Backoff(this.#options.backoff) };
      this.#supervised.set(container.name, known);
    }
    return known;
  }

  async #restart(unit: UnitPods, podName: string, container: ContainerState): Promise<void> {
    const { snapshots, log } = this.#options;
    const known = this.#supervisedOf(container);
    known.timer = undefined;
    known.nextAt = undefined;
    if (this.#stopped) return;
    await this.#options.locks.run(unit.id, async () => {
      // Podman is read again under the unit's lock: the pod may have been replaced or removed meanwhile.
      const pod = (await snapshots.unit(unit.host, unit.id))?.pods.find((p) => p.name === podName);
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
      snapshots.changed();
      await this.#saveRestarts(unit);
      log?.info({ unit: unit.id, container: now.name, restarts: known.restarts }, 'container restarted');
    });
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
