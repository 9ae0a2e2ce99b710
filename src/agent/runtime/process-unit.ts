import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { podSpecOf, replicasOf, restartPolicyOf } from './pod-spec.ts';
import {
  type ContainerPlan,
  ContainerProcess,
  type ContainerState,
  type RestartTiming,
} from './process-container.ts';
import { buildEnv, ContainerConfigError, expand } from './process-env.ts';
import { bindsOf, fallbackVariable, materialiseVolumes, safeName } from './process-volumes.ts';
import type { DesiredUnit, UnitStatus } from './runtime.ts';

/** How a unit's processes are run. */
export interface UnitSettings {
  /** The unit's folder (volumes, replicas/<i>/<container>/, work/). */
  readonly dir: string;
  readonly bwrap: boolean;
  readonly timing: RestartTiming;
  /** PATH given to containers that set none. */
  readonly path: string;
  readonly onChange: () => void;
  /** Records the mount targets before bwrap creates what is missing of them on the host. */
  readonly onMountTargets: (targets: readonly string[]) => Promise<void>;
}

/** A unit's replicas × containers, supervised. */
export class ProcessUnit {
  readonly unit: DesiredUnit;
  readonly containers: ContainerProcess[] = [];
  readonly #settings: UnitSettings;
  /** Mount targets bwrap may have created on the host. */
  readonly mountTargets: string[] = [];
  #fallbackNote: string | undefined;

  constructor(unit: DesiredUnit, settings: UnitSettings) {
    this.unit = unit;
    this.#settings = settings;
  }

  /**
   * Builds every container's plan (nothing runs yet) and, with `materialise`,
   * writes the volumes. Adoption does not rewrite them: running processes
   * see the folders through bind mounts, which a replaced folder would break.
   */
  async prepare(options: { materialise: boolean }): Promise<void> {
    const { spec } = podSpecOf(this.unit.object);
    const volumes = spec.volumes ?? [];
    let unitError: ContainerPlan['configError'];
    try {
      if (options.materialise) await materialiseVolumes(volumes, this.#settings.dir, this.unit);
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      unitError = { reason: 'CreateContainerConfigError', message: error.message };
    }
    const replicas = replicasOf(this.unit.object);
    const podName = this.unit.ref.name;
    const grace = Number(
      (spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 10,
    );
    for (let replica = 0; replica < replicas; replica++) {
      const replicaDir = join(this.#settings.dir, 'replicas', String(replica));
      const cwd = join(replicaDir, 'work');
      await mkdir(cwd, { recursive: true });
      const hostname = this.unit.ref.kind === 'Pod' ? podName : `${podName}-${replica}`;
      for (const container of spec.containers ?? []) {
        const dir = join(replicaDir, safeName(container.name));
        await mkdir(dir, { recursive: true });
        let configError = unitError;
        let env: Record<string, string> = {};
        let argv: string[] = [];
        let binds: ContainerPlan['binds'] = [];
        try {
          env = buildEnv(container, {
            ...this.unit,
            base: { PATH: this.#settings.path, HOSTNAME: hostname, OUTPOST_UNIT: this.unit.id },
          });
          binds = await bindsOf(container, volumes, { unitDir: this.#settings.dir, replicaDir });
          argv = [...(container.command ?? []), ...(container.args ?? [])].map((part) => expand(part, env));
          if (!container.command?.length) {
            throw new ContainerConfigError(
              `container ${container.name} has no command: the process runtime runs a container's command (it has no image to take an entrypoint from)`,
            );
          }
        } catch (error) {
          if (!(error instanceof ContainerConfigError)) throw error;
          configError ??= { reason: 'CreateContainerConfigError', message: error.message };
        }
        if (!this.#settings.bwrap) {
          // No bind mounts without bwrap: say where each volume is, in the environment and in the status.
          for (const bind of binds) env[fallbackVariable(bind.volume)] = bind.source;
          if (binds.length > 0) {
            this.#fallbackNote = `bubblewrap is not installed: volumes are not at their mountPath; their folders are in ${binds
              .map((b) => `$${fallbackVariable(b.volume)}`)
              .join(', ')}`;
          }
        }
        for (const bind of binds)
          if (!this.mountTargets.includes(bind.target)) this.mountTargets.push(bind.target);
        const plan: ContainerPlan = {
          name: container.name,
          argv,
          env,
          cwd,
          ...(container.workingDir && this.#settings.bwrap ? { workingDir: container.workingDir } : {}),
          binds,
          bwrap: this.#settings.bwrap && binds.length > 0,
          dir,
          restartPolicy: restartPolicyOf(this.unit.object),
          graceMs: Math.max(0, grace) * 1000,
          ...(configError ? { configError } : {}),
        };
        this.containers.push(new ContainerProcess(plan, this.#settings.timing, this.#settings.onChange));
      }
    }
    if (this.#settings.bwrap) await this.#settings.onMountTargets(this.mountTargets);
  }

  /** Starts every container. */
  start(): void {
    for (const container of this.containers) container.start();
  }

  /** Adopts every container an earlier agent started (restarting the dead per policy). */
  adopt(): void {
    for (const container of this.containers) container.adopt();
  }

  /** Polls the adopted processes. */
  poll(): void {
    for (const container of this.containers) container.poll();
  }

  /** Stops supervising; the processes keep running. */
  release(): void {
    for (const container of this.containers) container.release();
  }

  /** Stops every container (in parallel: each has its own grace period). */
  async stop(): Promise<void> {
    await Promise.all(this.containers.map((container) => container.stop()));
  }

  /** The unit's status: the worst container decides, restarts add up. */
  status(): UnitStatus {
    return aggregate(
      this.containers.map((c) => c.status),
      this.#fallbackNote,
    );
  }
}

/**
 * Combines container states as a Pod's phase is derived: all terminated →
 * Succeeded (all exit 0) or Failed; any that cannot start or waits → not
 * ready, with the first such reason; otherwise Running and ready.
 */
export function aggregate(states: readonly ContainerState[], note?: string): UnitStatus {
  const restarts = states.reduce((sum, s) => sum + s.restarts, 0);
  const exitCode = states.find((s) => s.exitCode !== undefined)?.exitCode;
  const withExit = exitCode === undefined ? {} : { exitCode };
  if (states.length === 0) return { phase: 'Succeeded', ready: false, restarts, reason: 'NoContainers' };
  const blocked = states.find((s) => s.reason === 'CreateContainerConfigError' || s.reason === 'StartFailed');
  if (blocked)
    return {
      phase: 'Pending',
      ready: false,
      restarts,
      reason: blocked.reason!,
      message: blocked.message ?? '',
    };
  if (states.every((s) => s.state === 'terminated')) {
    const failed = states.find((s) => s.exitCode !== 0);
    if (failed)
      return {
        phase: 'Failed',
        ready: false,
        restarts,
        ...withExit,
        reason: failed.reason ?? 'Error',
        ...msg(failed.message),
      };
    return { phase: 'Succeeded', ready: false, restarts, ...withExit, reason: 'Completed' };
  }
  const waiting = states.find((s) => s.state === 'waiting');
  if (waiting) {
    const phase = states.some((s) => s.restarts > 0 || s.exitCode !== undefined) ? 'Running' : 'Pending';
    return {
      phase,
      ready: false,
      restarts,
      ...withExit,
      reason: waiting.reason ?? 'Waiting',
      ...msg(waiting.message),
    };
  }
  const ready = states.every((s) => s.state === 'running' || (s.state === 'terminated' && s.exitCode === 0));
  return { phase: 'Running', ready, restarts, ...withExit, ...msg(note) };
}

function msg(message: string | undefined): { message?: string } {
  return message ? { message } : {};
}
