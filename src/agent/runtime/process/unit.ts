import { chmod, chown, mkdir, readdir } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { buildEnv, ContainerConfigError, expand } from '../container-env.ts';
import { podSpecOf, replicasOf, restartPolicyOf } from '../pod-spec.ts';
import { probesOf } from '../probes/index.ts';
import { containerLimitsOf, oomScoreAdjOf } from '../resources.ts';
import type { DesiredUnit, UnitStatus } from '../runtime.ts';
import { resolveOutpost } from '../self-command.ts';
import { materialiseVolumes, safeName } from '../volumes.ts';
import { type Bind, bindsOf, fallbackVariable } from './binds.ts';
import {
  type ContainerPlan,
  ContainerProcess,
  type ContainerState,
  type RestartTiming,
} from './container.ts';
import { enforcementOf, type LimitMechanism } from './limits.ts';
import { sandboxedPidOf } from './proc.ts';
import { probeArgv, runAsOf, type SandboxSettings, sandboxedArgv } from './sandbox.ts';

/** How a unit's processes are run. */
export interface UnitSettings {
  /** The unit's folder, the agent's: unit.json, each container's state, exit code and output. */
  readonly dir: string;
  /**
   * The unit's own folder, owned by its uid: volumes, `replicas/<i>/work` and
   * emptyDir folders. `dir` itself when bubblewrap binds them into the
   * container's view; without it, a folder outside the data dir (which the
   * unit's uid cannot enter).
   */
  readonly ownDir: string;
  /** The uid (and gid) the unit's containers run as unless they ask for root. */
  readonly uid: number;
  readonly sandbox: SandboxSettings;
  readonly timing: RestartTiming;
  /** PATH given to containers that set none. */
  readonly path: string;
  readonly onChange: () => void;
  /**
   * Makes (and records) what is missing on the host of the mount targets bwrap
   * needs to exist; before every start of a container (synchronous).
   */
  readonly onMountTargets: (targets: readonly string[]) => void;
  /** Variables every container gets (the local MQTT endpoint); the container's own win. Not part of the unit's hash. */
  readonly env: Readonly<Record<string, string>>;
  /** The argv prefix a container command `outpost` is replaced with (see self-command.ts). */
  readonly outpost: readonly string[];
  /** How containers' `resources.limits` are enforced on this host (limits.ts). */
  readonly limits: LimitMechanism;
}

/** A unit's replicas × containers, supervised. */
export class ProcessUnit {
  readonly unit: DesiredUnit;
  /** Every container process, init containers included (for logs and polling). */
  readonly containers: ContainerProcess[] = [];
  /** Per replica: init containers (run one after the other to success) then the containers. */
  readonly #replicas: { inits: ContainerProcess[]; mains: ContainerProcess[] }[] = [];
  readonly #settings: UnitSettings;
  /** Mount targets bwrap may have created on the host. */
  readonly mountTargets: string[] = [];
  #fallbackNote: string | undefined;
  /** How the unit's limits are enforced, in words (the status's note while it runs). */
  #limitsNote: string | undefined;

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
      if (options.materialise) await materialiseVolumes(volumes, this.#settings.ownDir, this.unit);
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      unitError = { reason: 'CreateContainerConfigError', message: error.message };
    }
    const replicas = replicasOf(this.unit.object);
    const podName = this.unit.ref.name;
    const grace = Number(
      (spec as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 10,
    );
    const { bwrap } = this.#settings.sandbox;
    for (let replica = 0; replica < replicas; replica++) {
      const replicaDir = join(this.#settings.dir, 'replicas', String(replica));
      const ownReplicaDir = join(this.#settings.ownDir, 'replicas', String(replica));
      const cwd = join(ownReplicaDir, 'work');
      await mkdir(cwd, { recursive: true });
      const hostname = this.unit.ref.kind === 'Pod' ? podName : `${podName}-${replica}`;
      const group = { inits: [] as ContainerProcess[], mains: [] as ContainerProcess[] };
      this.#replicas.push(group);
      const inits = spec.initContainers ?? [];
      for (const [index, container] of [...inits, ...(spec.containers ?? [])].entries()) {
        const isInit = index < inits.length;
        const dir = join(replicaDir, `${isInit ? 'init-' : ''}${safeName(container.name)}`);
        await mkdir(dir, { recursive: true });
        let configError = unitError;
        let env: Record<string, string> = {};
        let argv: string[] = [];
        let binds: Bind[] = [];
        let runAs = { uid: this.#settings.uid, gid: this.#settings.uid };
        try {
          env = buildEnv(container, {
            ...this.unit,
            base: {
              PATH: this.#settings.path,
              ...this.#settings.env,
              HOSTNAME: hostname,
              // A unit uid has no passwd entry, hence no home: programs that keep files there get their own folder.
              HOME: cwd,
              OUTPOST_UNIT: this.unit.id,
            },
          });
          binds = await bindsOf(container, volumes, {
            unitDir: this.#settings.ownDir,
            replicaDir: ownReplicaDir,
            hidden: this.#settings.sandbox.hidden,
          });
          runAs = runAsOf(spec, container, this.#settings.uid, { bwrap });
          await ownUploadFolders(binds, this.#settings.sandbox.concealed, runAs);
          argv = resolveOutpost(
            [...(container.command ?? []), ...(container.args ?? [])].map((part) => expand(part, env)),
            this.#settings.outpost,
          );
          if (!container.command?.length) {
            throw new ContainerConfigError(
              `container ${container.name} has no command: the process runtime runs a container's command (it has no image to take an entrypoint from)`,
            );
          }
        } catch (error) {
          if (!(error instanceof ContainerConfigError)) throw error;
          configError ??= { reason: 'CreateContainerConfigError', message: error.message };
        }
        if (!bwrap) {
          // No bind mounts without bwrap: say where each volume is, in the environment and in the status.
          for (const bind of binds) env[fallbackVariable(bind.volume)] = bind.source;
          // An argument naming a path under a mount point (`--config /etc/app/config.yaml`) gets the host path.
          argv = argv.map((part) => atHostPath(part, binds));
          if (binds.length > 0) {
            this.#fallbackNote = `bubblewrap is not installed: volumes are not at their mountPath; their folders are in ${binds
              .map((b) => `$${fallbackVariable(b.volume)}`)
              .join(', ')}`;
          }
        }
        for (const bind of binds)
          if (!this.mountTargets.includes(bind.target)) this.mountTargets.push(bind.target);
        const limits = configError
          ? undefined
          : enforcementOf(
              this.#settings.limits,
              `${this.unit.id}.${replica}.${isInit ? 'init-' : ''}${safeName(container.name)}`,
              containerLimitsOf(container),
            );
        if (limits?.note && !this.#limitsNote) this.#limitsNote = limits.note;
        const plan: ContainerPlan = {
          name: container.name,
          argv: configError
            ? []
            : [
                ...(limits?.prefix ?? []),
                ...sandboxedArgv(
                  {
                    argv,
                    cwd,
                    ...(container.workingDir && bwrap ? { workingDir: container.workingDir } : {}),
                    binds,
                    runAs,
                  },
                  this.#settings.sandbox,
                ),
              ],
          env,
          cwd,
          dir,
          // An init container is retried until it succeeds, unless the pod never restarts.
          restartPolicy: isInit
            ? restartPolicyOf(this.unit.object) === 'Never'
              ? 'Never'
              : 'OnFailure'
            : restartPolicyOf(this.unit.object),
          graceMs: Math.max(0, grace) * 1000,
          ...(configError ? { configError } : {}),
          oomScoreAdj: oomScoreAdjOf(this.unit.object, totalmem()),
          ...(limits
            ? {
                cgroupProcs: limits.procs,
                oomKills: limits.oomKills,
                cleanupLimits: limits.cleanup,
                ...(limits.note ? { limitsNote: limits.note } : {}),
              }
            : {}),
          // Init containers have no probes (Kubernetes rejects them there).
          ...(isInit ? {} : { probes: probesOf(container) }),
          ...(bwrap ? { beforeStart: () => this.#settings.onMountTargets(this.mountTargets) } : {}),
          probeArgv: (command, pgid) =>
            probeArgv(command, runAs, this.#settings.sandbox, bwrap ? sandboxedPidOf(pgid) : undefined),
        };
        const timing = this.unit.retry
          ? { ...this.#settings.timing, ...this.unit.retry }
          : this.#settings.timing;
        const process = new ContainerProcess(plan, timing, this.#settings.onChange, {
          initial: isInit || inits.length === 0 ? 'ContainerCreating' : 'PodInitializing',
        });
        (isInit ? group.inits : group.mains).push(process);
        this.containers.push(process);
      }
    }
    if (bwrap) this.#settings.onMountTargets(this.mountTargets);
    if (options.materialise) await this.#giveOwnFolders(replicas);
  }

  /**
   * Gives the unit's own folders to its uid (0700 without bubblewrap, where
   * they are reachable by path): its volumes (Secret files stay 0600, now
   * its own), working and emptyDir folders. The agent's records stay root's.
   */
  async #giveOwnFolders(replicas: number): Promise<void> {
    const { uid, ownDir, dir } = this.#settings;
    if (!this.#settings.sandbox.switchUser) return;
    const owned = [join(ownDir, 'volumes')];
    for (let replica = 0; replica < replicas; replica++)
      owned.push(
        join(ownDir, 'replicas', String(replica), 'work'),
        join(ownDir, 'replicas', String(replica), 'empty'),
      );
    if (ownDir !== dir) {
      await chown(ownDir, uid, uid);
      await chmod(ownDir, 0o700);
    }
    for (const path of owned) await chownTree(path, uid);
  }

  /** Starts every replica: its init containers one after the other, then its containers. */
  start(): void {
    for (const group of this.#replicas) this.#runFrom(group, 0, 'start');
  }

  /**
   * Adopts what an earlier agent started (restarting the dead per policy):
   * a replica whose containers were started is past its init containers;
   * else the init sequence resumes at the first init container not known
   * to have succeeded.
   */
  adopt(): void {
    for (const group of this.#replicas) {
      if (group.mains.some((c) => c.recorded)) {
        for (const container of group.mains) container.adopt();
        continue;
      }
      const next = group.inits.findIndex((c) => c.recordedExitCode !== 0);
      this.#runFrom(group, next < 0 ? group.inits.length : next, 'adopt');
    }
  }

  #runFrom(
    group: { inits: ContainerProcess[]; mains: ContainerProcess[] },
    index: number,
    how: 'start' | 'adopt',
  ): void {
    const init = group.inits[index];
    if (!init) {
      for (const container of group.mains) container.start();
      return;
    }
    init.onTerminated = (code) => {
      if (code === 0) this.#runFrom(group, index + 1, 'start');
    };
    if (how === 'adopt') init.adopt();
    else init.start();
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

  /** The unit's status: a failing init container, else the worst container decides; restarts add up. */
  status(): UnitStatus {
    for (const group of this.#replicas) {
      for (const init of group.inits) {
        const state = init.status;
        if (state.state === 'terminated' && state.exitCode !== 0 && state.reason !== 'Stopped') {
          return {
            phase: 'Failed',
            ready: false,
            restarts: state.restarts,
            exitCode: state.exitCode ?? 1,
            reason: 'InitContainerFailed',
            message: `init container ${init.plan.name} exited with code ${state.exitCode}`,
          };
        }
        if (state.state === 'waiting' && state.reason !== 'ContainerCreating') {
          return {
            phase: 'Pending',
            ready: false,
            restarts: state.restarts,
            ...(state.exitCode !== undefined ? { exitCode: state.exitCode } : {}),
            reason: `Init:${state.reason ?? 'Waiting'}`,
            ...(state.message ? { message: state.message } : {}),
          };
        }
      }
    }
    return aggregate(
      this.#replicas.flatMap((group) => group.mains.map((c) => c.status)),
      [this.#fallbackNote, this.#limitsNote].filter(Boolean).join('; ') || undefined,
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
      ...(waiting.nextRetryTime ? { nextRetryTime: waiting.nextRetryTime } : {}),
    };
  }
  const ready = states.every(
    (s) => (s.state === 'running' && s.ready) || (s.state === 'terminated' && s.exitCode === 0),
  );
  // A container its probes hold back (or restarted) says why, before the unit-wide note.
  const probed =
    states.find((s) => s.state === 'running' && !s.ready && s.message) ?? states.find((s) => s.message);
  return { phase: 'Running', ready, restarts, ...withExit, ...msg(probed?.message ?? note) };
}

function msg(message: string | undefined): { message?: string } {
  return message ? { message } : {};
}

/** `part` with a leading mount path replaced by the volume's host folder (bwrap's absence fallback). */
export function atHostPath(part: string, binds: readonly Bind[]): string {
  for (const bind of binds) {
    if (part === bind.target) return bind.source;
    if (part.startsWith(`${bind.target}/`)) return bind.source + part.slice(bind.target.length);
  }
  return part;
}

/** Gives `path` and everything under it (when it exists) to `uid`:`uid`, without following symlinks. */
async function chownTree(path: string, uid: number): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return; // absent (no volumes, no emptyDir)
  }
  await chown(path, uid, uid);
  for (const entry of entries) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid);
    else if (!entry.isSymbolicLink()) await chown(child, uid, uid);
  }
}

/**
 * The unit's upload folders (binds from under a concealed folder) become its uid's alone, mode
 * 0770: with bubblewrap no other unit sees them anyway, without it they would otherwise be open
 * to every unit's uid (the uploader makes them 1777, not knowing which uid will write). The agent
 * (root) still reads them.
 */
async function ownUploadFolders(
  binds: readonly Bind[],
  concealed: readonly string[],
  runAs: { uid: number; gid: number },
): Promise<void> {
  for (const bind of binds) {
    if (!concealed.some((folder) => bind.source.startsWith(`${folder}/`))) continue;
    // Only once it is the unit's: a folder the agent could not give away stays open (1777).
    await chown(bind.source, runAs.uid, runAs.gid)
      .then(() => chmod(bind.source, 0o770))
      .catch(() => undefined);
  }
}
