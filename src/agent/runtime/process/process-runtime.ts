import { hash } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Logger } from 'pino';
import {
  type ActualUnit,
  type CloseOptions,
  type DesiredUnit,
  type LogOptions,
  type Runtime,
  UnitNotFoundError,
} from '../runtime.ts';
import { selfCommand } from '../self-command.ts';
import { UnitLocks } from '../unit-locks.ts';
import { safeName } from '../volumes.ts';
import type { RestartTiming } from './container.ts';
import { detectLimitMechanism, type LimitMechanism, removeLimitRoots } from './limits.ts';
import { followOutput, rotateIfLarge } from './logs.ts';
import { ensureMountPoints, removeMountPoints } from './mount-points.ts';
import { killGroup } from './proc.ts';
import { programPathsOf, type SandboxSettings, SYSTEM_DIRS } from './sandbox.ts';
import { ProcessUnit } from './unit.ts';
import { type UidRange, UnitUids } from './unit-uids.ts';

/** Options of {@link createProcessRuntime}. */
export interface ProcessRuntimeOptions {
  /** The runtime's folder (units/<id>/...), e.g. `DATA_DIR/process`. */
  readonly dir: string;
  /**
   * Give each container a view of its own with bubblewrap (see sandbox.ts):
   * system folders read-only, its volumes at their mountPath, private /tmp and
   * /proc. @default true when `bwrap` is on PATH. Without it, each mounted
   * volume's host folder is given in `OUTPOST_VOLUME_<NAME>`, the unit's
   * status message says so, and only users and modes keep containers out
   * of the data dir.
   */
  readonly bwrap?: boolean;
  /**
   * Folders no container may see (the agent's data dir): never bound, hidden
   * where a bound folder holds them. @default [dir]
   */
  readonly hiddenDirs?: readonly string[];
  /**
   * Folders hidden in every view as the data dir is, of which the agent binds
   * a unit only its own part (the upload folders: one per workload, written
   * by units of any uid). @default none
   */
  readonly concealedDirs?: readonly string[];
  /**
   * Without bubblewrap, where each unit's own folder (volumes, working and
   * emptyDir folders; 0700, its uid's) lives: outside the data dir, which
   * units cannot enter. @default `${dir}.workloads`
   */
  readonly workloadsDir?: string;
  /** The uids units run as. @default the range `dir` hashes to (`unitUidRangeOf`): two agents' units never share a uid */
  readonly unitUids?: UidRange;
  /**
   * Run each unit as its own uid. @default true when the agent runs as root
   * (else every unit runs as the agent's user, and only bubblewrap keeps the
   * data dir out of sight)
   */
  readonly switchUser?: boolean;
  /** Where the runtime says how units are confined, once at start. */
  readonly logger?: Logger;
  /** Restart delays. */
  readonly restart?: RestartTiming;
  /** Size at which a container's output.log is rotated. @default 1048576 */
  readonly logMaxBytes?: number;
  /** How often adopted processes are checked and logs rotated. @default 1000 */
  readonly pollIntervalMs?: number;
  /**
   * Variables every container gets, e.g. `OUTPOST_MQTT_URL` and
   * `OUTPOST_DEVICE` (a container's own env wins). Not part of a unit's hash:
   * units adopted after an agent restart still match. @default none
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * What a container command `outpost` runs: the agent's own CLI.
   * @default {@link selfCommand}() (this node executable, its options and script)
   */
  readonly outpostCommand?: readonly string[];
  /**
   * How containers' `resources.limits` are enforced: `auto` puts each
   * container in a cgroup where the host lets the agent (v2 delegated, else
   * v1 as root) and uses rlimits elsewhere; `off` uses rlimits only (see
   * limits.ts). @default 'auto'
   */
  readonly cgroups?: 'auto' | 'off';
}

interface StoredUnit {
  readonly id: string;
  readonly source: DesiredUnit['source'];
  readonly ref: DesiredUnit['ref'];
  readonly object: DesiredUnit['object'];
  readonly objectHash: string;
  readonly hash: string;
  readonly configMaps: Record<string, unknown>;
  readonly secrets: Record<string, unknown>;
  readonly rootless: boolean;
  /** The unit's uid; absent in units of agents that ran every unit as themselves. */
  readonly uid?: number;
}

/**
 * The `process` runtime: every container of a unit runs as a supervised host
 * process (see container.ts for how it survives and is adopted),
 * with its env, its ConfigMap/Secret volumes as files, a working folder per
 * replica and rotated output files. Deployments and StatefulSets run
 * `replicas` copies. `image` is ignored: the container's `command` must
 * name a program of the host, except `outpost`, which runs the agent's own
 * CLI (see self-command.ts).
 */
export function createProcessRuntime(options: ProcessRuntimeOptions): Runtime {
  return new ProcessRuntime(options);
}

class ProcessRuntime implements Runtime {
  readonly name = 'process';
  readonly #options: ProcessRuntimeOptions;
  readonly #units = new Map<string, ProcessUnit>();
  /** The uid of each unit (kept across replacements of the unit). */
  readonly #uidOf = new Map<string, number>();
  readonly #uids: UnitUids;
  readonly #sandbox: SandboxSettings;
  readonly #listeners = new Set<() => void>();
  readonly #locks = new UnitLocks();
  readonly #outpost: readonly string[];
  #limits: LimitMechanism | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ProcessRuntimeOptions) {
    this.#options = options;
    this.#outpost = options.outpostCommand ?? selfCommand();
    this.#uids = new UnitUids(options.dir, options.unitUids);
    this.#sandbox = {
      bwrap: options.bwrap ?? onPath('bwrap'),
      switchUser: options.switchUser ?? process.getuid?.() === 0,
      programPaths: programPathsOf(this.#outpost[0] ?? process.execPath, this.#outpost.at(-1)),
      hidden: options.hiddenDirs ?? [options.dir],
      concealed: options.concealedDirs ?? [],
    };
  }

  get #workloadsDir(): string {
    return this.#options.workloadsDir ?? `${this.#options.dir}.workloads`;
  }

  /** The unit's own folder (see UnitSettings.ownDir). */
  #ownDirOf(unitDir: string, id: string): string {
    return this.#sandbox.bwrap ? unitDir : join(this.#workloadsDir, safeName(id));
  }

  get #unitsDir(): string {
    return join(this.#options.dir, 'units');
  }

  async start(): Promise<void> {
    await this.#checkTools();
    this.#limits = detectLimitMechanism(
      this.#options.cgroups ?? 'auto',
      hash('sha256', this.#options.dir, 'hex').slice(0, 8),
    );
    this.#options.logger?.info(
      { mechanism: this.#limits.kind, why: this.#limits.why },
      "containers' resource limits enforced by this mechanism",
    );
    await mkdir(this.#unitsDir, { recursive: true, mode: 0o700 });
    if (!this.#sandbox.bwrap) await mkdir(this.#workloadsDir, { recursive: true, mode: 0o711 });
    for (const id of await readdir(this.#unitsDir)) {
      const dir = join(this.#unitsDir, id);
      let stored: StoredUnit | undefined;
      try {
        stored = JSON.parse(await readFile(join(dir, 'unit.json'), 'utf8')) as StoredUnit;
      } catch {
        // Half-written by an agent killed mid-apply: nothing can be adopted from it.
      }
      if (stored?.uid === undefined) {
        // Incomplete, or started unconfined by an older agent: stopped, and applied afresh by the reconciler.
        killRecorded(dir);
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      this.#uids.use(stored.uid);
      this.#uidOf.set(stored.id, stored.uid);
      const unit = new ProcessUnit(fromStored(stored), this.#settings(dir, stored.id, stored.uid));
      await unit.prepare({ materialise: false });
      unit.adopt();
      this.#units.set(stored.id, unit);
    }
    const interval = this.#options.pollIntervalMs ?? 1000;
    this.#timer = setInterval(() => void this.#tick(), interval);
    this.#timer.unref();
  }

  apply(unit: DesiredUnit): Promise<void> {
    return this.#serial(unit.id, async () => {
      const existing = this.#units.get(unit.id);
      if (existing?.unit.hash === unit.hash) return;
      const dir = join(this.#unitsDir, safeName(unit.id));
      if (existing) await this.#discard(unit.id, existing, dir); // the uid stays the unit's
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const uid = this.#uidOf.get(unit.id) ?? (await this.#uids.allocate());
      this.#uidOf.set(unit.id, uid);
      const next = new ProcessUnit(unit, this.#settings(dir, unit.id, uid));
      await next.prepare({ materialise: true });
      // unit.json last: a unit without it is incomplete and is cleaned up at the next start.
      await writeFile(join(dir, 'unit.json'), JSON.stringify(toStored(unit, uid)), { mode: 0o600 });
      this.#units.set(unit.id, next);
      next.start();
      this.#changed();
    });
  }

  remove(id: string): Promise<void> {
    return this.#serial(id, async () => {
      const existing = this.#units.get(id);
      const dir = join(this.#unitsDir, safeName(id));
      if (existing) await this.#discard(id, existing, dir);
      else await rm(dir, { recursive: true, force: true });
      const uid = this.#uidOf.get(id);
      if (uid !== undefined) this.#uids.release(uid);
      this.#uidOf.delete(id);
      this.#changed();
    });
  }

  async list(): Promise<ActualUnit[]> {
    return [...this.#units.values()].map((running) => ({
      id: running.unit.id,
      source: running.unit.source,
      ref: running.unit.ref,
      hash: running.unit.hash,
      objectHash: running.unit.objectHash,
      status: running.status(),
    }));
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async *logs(id: string, options: LogOptions = {}): AsyncIterable<string> {
    const unit = this.#units.get(id);
    if (!unit) throw new UnitNotFoundError(id);
    const replica = options.replica ?? 0;
    const containers = unit.containers.filter((c) => c.plan.dir.includes(`/replicas/${replica}/`));
    const container = options.container
      ? containers.find((c) => c.plan.name === options.container)
      : containers[0];
    if (!container) throw new UnitNotFoundError(id, options.container ?? '(any)');
    yield* followOutput(join(container.plan.dir, 'output.log'), options);
  }

  async close(options: CloseOptions = {}): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#locks.settled();
    if (options.stopUnits) {
      await Promise.all([...this.#units.values()].map((unit) => unit.stop()));
      // Nothing of this agent runs any more: the mount points it needed go (unless another agent's use them).
      const targets = [...new Set([...this.#units.values()].flatMap((u) => u.mountTargets))];
      removeMountPoints(targets, new Set(), this.#options.dir);
      if (this.#limits) removeLimitRoots(this.#limits);
    } else for (const unit of this.#units.values()) unit.release();
    this.#listeners.clear();
  }

  /** Checks adopted processes and rotates output files. */
  async #tick(): Promise<void> {
    if (this.#closed) return;
    for (const unit of this.#units.values()) unit.poll();
    const maxBytes = this.#options.logMaxBytes ?? 1024 * 1024;
    for (const unit of this.#units.values())
      for (const container of unit.containers)
        await rotateIfLarge(join(container.plan.dir, 'output.log'), maxBytes).catch(() => false);
  }

  async #discard(id: string, unit: ProcessUnit, dir: string): Promise<void> {
    await unit.stop();
    this.#units.delete(id);
    await rm(dir, { recursive: true, force: true });
    const ownDir = this.#ownDirOf(dir, id);
    if (ownDir !== dir) await rm(ownDir, { recursive: true, force: true });
    await this.#removeMountTargets(unit.mountTargets);
  }

  /** Says how units are confined, and refuses to run units as other users without the tool to switch. */
  async #checkTools(): Promise<void> {
    const log = this.#options.logger;
    if (this.#sandbox.switchUser && !onPath('setpriv'))
      throw new Error(
        'setpriv (util-linux) is not installed: the process runtime cannot run workloads as unprivileged users',
      );
    if (!this.#sandbox.bwrap)
      log?.warn(
        { workloadsDir: this.#workloadsDir },
        'bubblewrap (bwrap) is not installed: process workloads see the whole file system, their volumes are not at their mountPath, and only their own uid and file modes keep them out of the data dir',
      );
    if (!this.#sandbox.switchUser)
      log?.warn(
        'the agent is not root: process workloads run as its own user, so only bubblewrap keeps the data dir out of their sight',
      );
  }

  /** Removes the host folders made for mount targets that no unit (of this agent or another) uses. */
  async #removeMountTargets(targets: readonly string[]): Promise<void> {
    const inUse = new Set([...this.#units.values()].flatMap((u) => u.mountTargets));
    removeMountPoints(targets, inUse, this.#options.dir);
  }

  #settings(dir: string, id: string, uid: number) {
    return {
      dir,
      ownDir: this.#ownDirOf(dir, id),
      uid,
      sandbox: this.#sandbox,
      timing: this.#options.restart ?? {},
      path: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      onChange: () => this.#changed(),
      onMountTargets: (targets: readonly string[]) =>
        ensureMountPoints(targets, [...SYSTEM_DIRS, ...this.#sandbox.programPaths]),
      env: this.#options.env ?? {},
      outpost: this.#outpost,
      limits: this.#limits ?? { kind: 'rlimit' as const, why: 'the runtime has not started' },
    };
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  /** Runs `work` after every earlier call for the same id. */
  #serial(id: string, work: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the process runtime is closed'));
    return this.#locks.run(id, work);
  }
}

function toStored(unit: DesiredUnit, uid: number): StoredUnit {
  return {
    ...unit,
    uid,
    configMaps: Object.fromEntries(unit.configMaps),
    secrets: Object.fromEntries(unit.secrets),
  };
}

function fromStored({ uid: _uid, ...stored }: StoredUnit): DesiredUnit {
  return {
    ...stored,
    configMaps: new Map(Object.entries(stored.configMaps)) as DesiredUnit['configMaps'],
    secrets: new Map(Object.entries(stored.secrets)) as DesiredUnit['secrets'],
  };
}

/** Kills every process group recorded under `dir` (a unit that cannot be adopted). */
function killRecorded(dir: string): void {
  const walk = (folder: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'state.json') {
        try {
          const { pid } = JSON.parse(readFileSync(path, 'utf8')) as { pid: number };
          killGroup(pid, 'SIGKILL');
        } catch {
          // unreadable: nothing to kill
        }
      }
    }
  };
  walk(dir);
}

function onPath(program: string): boolean {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(folder, program), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}
