import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { delay, monotonicMs } from '../../../util/index.ts';
import { Backoff } from '../../backoff.ts';
import { ContainerProbes, type ExecResult, type Probe } from '../probes/index.ts';
import { currentBootId, groupAlive, killGroup, startTimeOf } from './proc.ts';

/**
 * One container of one replica as a supervised host process.
 *
 * The process is started detached (its own session and process group) under
 * a tiny `sh` shim that records the exit code in a file, so it survives the
 * agent's death (SIGKILL included) and a later agent can both recognise it
 * (pid + start time from /proc, recorded in `state.json` right after the
 * spawn) and learn how it ended. Every signal goes to the whole process group,
 * so nothing the container started outlives it.
 */

/** Everything needed to start the container; built by the unit from the pod spec. */
export interface ContainerPlan {
  readonly name: string;
  /**
   * What is run: the command and args (`$(VAR)` expanded) inside the sandbox
   * that confines them (sandbox.ts); empty when `configError` is set.
   */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The host folder the process starts in (bwrap then changes to the container's `workingDir` inside). */
  readonly cwd: string;
  /** This container's folder: state.json, exit code, output.log. */
  readonly dir: string;
  readonly restartPolicy: 'Always' | 'OnFailure' | 'Never';
  /** How long a stop waits after SIGTERM before SIGKILL. */
  readonly graceMs: number;
  /** Why the container cannot start at all (reported, never retried until the unit changes). */
  readonly configError?: { readonly reason: string; readonly message: string };
  /** Run right before every start (the host's mount points of its volumes, see unit.ts). */
  readonly beforeStart?: () => void;
  /** Its startup, readiness and liveness probes (none: ready while running). */
  readonly probes?: readonly Probe[];
  /** The `oom_score_adj` the shim takes before the command runs (by QoS class, see resources.ts). */
  readonly oomScoreAdj?: number;
  /** The `cgroup.procs` files the shim joins before the command runs (its limits, see limits.ts). */
  readonly cgroupProcs?: readonly string[];
  /** How many processes the container's memory limit killed so far (a rising count: `OOMKilled`). */
  readonly oomKills?: () => number;
  /** How its limits are enforced, in words (told when it exits with an error). */
  readonly limitsNote?: string;
  /** Removes what enforces its limits, once it is stopped for good. */
  readonly cleanupLimits?: () => void;
  /** The command line that runs an exec probe's command in the confinement of the running group `pgid`. */
  readonly probeArgv?: (command: readonly string[], pgid: number) => string[];
}

/** Restart timing of the process runtime. */
export interface RestartTiming {
  /** First restart delay, doubled per crash. @default 1000 */
  readonly initialMs?: number;
  /** Longest restart delay. @default 300000 */
  readonly maxMs?: number;
  /** A run at least this long resets the delay. @default 60000 */
  readonly resetAfterMs?: number;
  /** Multiplier per restart (1: constant). @default 2 */
  readonly factor?: number;
  /** Restarts before the container is given up (RetryLimitExceeded). @default unlimited */
  readonly maxRetries?: number;
}

/** How the container stands, in Kubernetes' terms. */
export interface ContainerState {
  readonly state: 'running' | 'waiting' | 'terminated';
  readonly ready: boolean;
  readonly restarts: number;
  readonly exitCode?: number;
  readonly reason?: string;
  readonly message?: string;
  /** While waiting to restart: when (ISO time). */
  readonly nextRetryTime?: string;
}

interface StateFile {
  pid: number;
  startTime: string;
  bootId: string;
  restarts: number;
}

// The shim takes the container's oom_score_adj (its second argument, empty for none; lowering it needs root,
// so a refusal is ignored) and joins its cgroups (the paths before `--`) first, so everything it starts has both.
const SHIM =
  'f=$1; a=$2; shift 2; [ -z "$a" ] || echo "$a" 2>/dev/null >/proc/self/oom_score_adj; while [ "$1" != -- ]; do echo $$ >"$1" || exit 125; shift; done; shift; "$@"; c=$?; echo "$c" >"$f"; exit "$c"';

/** A supervised container process. */
export class ContainerProcess {
  readonly plan: ContainerPlan;
  readonly #onChange: () => void;
  readonly #backoff: Backoff;
  readonly #resetAfterMs: number;
  readonly #maxRetries: number | undefined;
  #status: ContainerState = { state: 'waiting', ready: false, restarts: 0, reason: 'ContainerCreating' };
  #restarts = 0;
  #pid: number | undefined;
  #startTime = '';
  #startedAt = 0;
  #child: ChildProcess | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #exited: (() => void) | undefined;
  readonly #probes: ContainerProbes | undefined;
  /** Why the running process is being stopped by the agent (a failed liveness or startup probe). */
  #killedFor: string | undefined;
  /** The memory limit's kill count when the process started. */
  #oomKillsBefore = 0;
  /** Called when the container has terminated for good (no restart follows), with its exit code. */
  onTerminated: ((code: number) => void) | undefined;

  constructor(
    plan: ContainerPlan,
    timing: RestartTiming,
    onChange: () => void,
    options: { initial?: string } = {},
  ) {
    this.plan = plan;
    this.#onChange = onChange;
    this.#status = {
      state: 'waiting',
      ready: false,
      restarts: 0,
      reason: options.initial ?? 'ContainerCreating',
    };
    this.#backoff = new Backoff({
      initialMs: timing.initialMs ?? 1000,
      maxMs: timing.maxMs ?? 300_000,
      factor: timing.factor ?? 2,
      jitter: 0,
    });
    this.#resetAfterMs = timing.resetAfterMs ?? 60_000;
    this.#maxRetries = timing.maxRetries;
    if (plan.probes?.length) {
      this.#probes = new ContainerProbes(
        plan.probes,
        { exec: (command, timeoutMs) => this.#exec(command, timeoutMs), address: async () => '127.0.0.1' },
        { onChange: () => this.#onChange(), onFailure: (_kind, message) => this.#killFor(message) },
      );
    }
  }

  /** Its state; while running, ready and the message are its probes'. */
  get status(): ContainerState {
    const status = this.#status;
    if (status.state !== 'running' || !this.#probes) return status;
    const message = this.#probes.message;
    return { ...status, ready: this.#probes.ready, ...(message ? { message } : {}) };
  }

  /** The pid of the running process group leader (the shim), if running. */
  get pid(): number | undefined {
    return this.#status.state === 'running' ? this.#pid : undefined;
  }

  /** Whether an earlier agent (or this one) started this container (its state.json exists). */
  get recorded(): boolean {
    return readState(this.plan.dir) !== undefined;
  }

  /** The exit code an earlier run recorded, if it ended. */
  get recordedExitCode(): number | undefined {
    return this.recorded ? readExitCode(this.plan.dir) : undefined;
  }

  /** Whether the process is supervised by polling (adopted from an earlier agent) rather than as a child. */
  get adopted(): boolean {
    return this.#status.state === 'running' && this.#child === undefined;
  }

  /** Starts the container for the first time. */
  start(): void {
    mkdirSync(this.plan.dir, { recursive: true });
    this.#spawn();
  }

  /**
   * Takes over what an earlier agent started: the recorded process if it is
   * still the same one (this boot, same start time), else its exit is handled
   * as if seen now (restart per policy, restarts counted on).
   */
  adopt(): void {
    const recorded = readState(this.plan.dir);
    if (!recorded) {
      this.start();
      return;
    }
    this.#restarts = recorded.restarts;
    this.#oomKillsBefore = this.plan.oomKills?.() ?? 0;
    if (recorded.bootId === currentBootId() && startTimeOf(recorded.pid) === recorded.startTime) {
      this.#pid = recorded.pid;
      this.#startTime = recorded.startTime;
      this.#startedAt = monotonicMs();
      this.#set({ state: 'running', ready: true, restarts: this.#restarts });
      this.#probes?.start();
      return;
    }
    if (recorded.bootId !== currentBootId()) {
      // The machine rebooted: the process did not fail, it was stopped with everything else.
      this.#spawn();
      return;
    }
    if (startTimeOf(recorded.pid) === undefined) killGroup(recorded.pid, 'SIGKILL');
    this.#handleExit(readExitCode(this.plan.dir) ?? 255, 'exited while the agent was down');
  }

  /** Checks an adopted process (no exit event comes for it); called periodically by the runtime. */
  poll(): void {
    if (!this.adopted || this.#pid === undefined) return;
    if (startTimeOf(this.#pid) === this.#startTime) return;
    // Whatever the container left in its group; a reused pid (another start time) is not ours to signal.
    if (startTimeOf(this.#pid) === undefined) killGroup(this.#pid, 'SIGKILL');
    this.#handleExit(readExitCode(this.plan.dir) ?? 255);
  }

  /** Stops supervising, leaving the process running (for the next agent to adopt). */
  release(): void {
    this.#stopped = true;
    this.#probes?.stop();
    clearTimeout(this.#timer);
    this.#child = undefined;
  }

  /** Stops the process group (SIGTERM, SIGKILL after the grace period) and supervising it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#probes?.stop();
    clearTimeout(this.#timer);
    const pid = this.#pid;
    if (this.#status.state !== 'running' || pid === undefined) {
      this.plan.cleanupLimits?.();
      return;
    }
    const gone = new Promise<void>((resolve) => {
      this.#exited = resolve;
    });
    killGroup(pid, 'SIGTERM');
    const deadline = monotonicMs() + this.plan.graceMs;
    while (monotonicMs() < deadline) {
      if (this.#child === undefined && startTimeOf(pid) !== this.#startTime) break;
      const done = await Promise.race([gone.then(() => true), delay(100).then(() => false)]);
      if (done) break;
    }
    killGroup(pid, 'SIGKILL');
    // Until the whole group is gone: its mount namespace (and the volumes bound in it) goes with the last of it.
    for (const until = monotonicMs() + 2000; groupAlive(pid) && monotonicMs() < until; ) await delay(20);
    this.plan.cleanupLimits?.();
    this.#set({ state: 'terminated', ready: false, restarts: this.#restarts, reason: 'Stopped' });
  }

  #spawn(): void {
    if (this.#stopped) return;
    const plan = this.plan;
    if (plan.configError) {
      this.#set({ state: 'waiting', ready: false, restarts: this.#restarts, ...plan.configError });
      return;
    }
    try {
      plan.beforeStart?.();
    } catch (error) {
      this.#set({
        state: 'waiting',
        ready: false,
        restarts: this.#restarts,
        reason: 'StartFailed',
        message: `cannot prepare its mount points: ${error instanceof Error ? error.message : String(error)}`,
      });
      return;
    }
    const exitFile = join(plan.dir, 'exit-code');
    rmSync(exitFile, { force: true });
    const inner = [...plan.argv];
    const log = openSync(join(plan.dir, 'output.log'), 'a', 0o640);
    let child: ChildProcess;
    try {
      this.#oomKillsBefore = plan.oomKills?.() ?? 0;
      child = spawn(
        '/bin/sh',
        [
          '-c',
          SHIM,
          'outpost-shim',
          exitFile,
          String(plan.oomScoreAdj ?? ''),
          ...(plan.cgroupProcs ?? []),
          '--',
          ...inner,
        ],
        {
          cwd: plan.cwd,
          env: { ...plan.env },
          detached: true,
          stdio: ['ignore', log, log],
        },
      );
    } finally {
      closeSync(log);
    }
    const pid = child.pid;
    if (pid === undefined) {
      child.on('error', () => {});
      this.#set({
        state: 'waiting',
        ready: false,
        restarts: this.#restarts,
        reason: 'StartFailed',
        message: 'cannot start /bin/sh',
      });
      return;
    }
    this.#child = child;
    this.#pid = pid;
    this.#startTime = startTimeOf(pid) ?? '';
    this.#startedAt = monotonicMs();
    // Recorded at once, in the same tick as the spawn: a later agent must find it to adopt it.
    writeState(plan.dir, {
      pid,
      startTime: this.#startTime,
      bootId: currentBootId(),
      restarts: this.#restarts,
    });
    child.unref();
    child.on('error', () => {}); // spawn errors also arrive as 'exit'
    child.on('exit', (code, signal) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      killGroup(pid, 'SIGKILL'); // orphans of the container in its group
      this.#handleExit(code ?? 128 + signalNumber(signal));
    });
    this.#set({ state: 'running', ready: true, restarts: this.#restarts });
    this.#probes?.start();
  }

  #handleExit(code: number, exitMessage?: string): void {
    this.#exited?.();
    this.#exited = undefined;
    this.#probes?.stop();
    const killedFor = this.#killedFor;
    this.#killedFor = undefined;
    const message = killedFor ? `${exitMessage ? `${exitMessage}; ` : ''}stopped: ${killedFor}` : exitMessage;
    if (this.#stopped) return;
    const ranMs = monotonicMs() - this.#startedAt;
    const restart =
      this.plan.restartPolicy === 'Always' || (this.plan.restartPolicy === 'OnFailure' && code !== 0);
    // The memory limit's kill (cgroups count them) is told as Kubernetes tells it.
    const oomKilled = (this.plan.oomKills?.() ?? 0) > this.#oomKillsBefore;
    const reason = code === 0 ? 'Completed' : oomKilled ? 'OOMKilled' : 'Error';
    if (!restart) {
      const told =
        message ??
        (code !== 0 && this.plan.limitsNote
          ? `exited with code ${code}; ${this.plan.limitsNote}`
          : undefined);
      this.#set({
        state: 'terminated',
        ready: false,
        restarts: this.#restarts,
        exitCode: code,
        reason,
        ...(told ? { message: told } : {}),
      });
      this.onTerminated?.(code);
      return;
    }
    if (this.#maxRetries !== undefined && this.#restarts >= this.#maxRetries) {
      // The Workload's retry policy gives up: Failed until the Workload changes (a new unit counts anew).
      this.#set({
        state: 'terminated',
        ready: false,
        restarts: this.#restarts,
        exitCode: code,
        reason: 'RetryLimitExceeded',
        message: `exited with code ${code} after ${this.#restarts} restarts: spec.retry.maxRetries is ${this.#maxRetries}`,
      });
      this.onTerminated?.(code);
      return;
    }
    if (ranMs >= this.#resetAfterMs) this.#backoff.reset();
    const wait = this.#backoff.next();
    this.#set({
      state: 'waiting',
      ready: false,
      restarts: this.#restarts,
      exitCode: code,
      reason: 'CrashLoopBackOff',
      message: `exited with code ${code}${oomKilled ? ' (killed by its memory limit)' : ''}${killedFor ? ` (stopped: ${killedFor})` : ''}; restart ${this.#restarts + 1}${
        this.#maxRetries !== undefined ? ` of ${this.#maxRetries}` : ''
      } in ${wait < 10_000 ? `${wait} ms` : `${Math.ceil(wait / 1000)} s`}`,
      nextRetryTime: new Date(Date.now() + wait).toISOString(),
    });
    this.#timer = setTimeout(() => {
      this.#restarts++;
      this.#spawn();
    }, wait);
    this.#timer.unref();
  }

  /** A liveness or startup probe failed: the group gets SIGTERM, SIGKILL after the grace period; the exit restarts it per policy. */
  #killFor(message: string): void {
    const pid = this.pid;
    if (pid === undefined) return;
    this.#killedFor = message;
    const startTime = this.#startTime;
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (this.#pid === pid && this.#startTime === startTime && this.#status.state === 'running')
        killGroup(pid, 'SIGKILL');
    }, this.plan.graceMs);
    timer.unref();
  }

  /** Runs an exec probe's command where the container runs, as its user; killed after `timeoutMs`. */
  #exec(command: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const pid = this.pid;
    if (pid === undefined || !this.plan.probeArgv) return Promise.resolve({ code: 1, output: 'not running' });
    let argv: string[];
    try {
      argv = this.plan.probeArgv(command, pid);
    } catch (error) {
      return Promise.resolve({ code: 1, output: error instanceof Error ? error.message : String(error) });
    }
    return new Promise((resolve) => {
      let output = '';
      let timedOut = false;
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: this.plan.cwd,
        env: { ...this.plan.env },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const collect = (chunk: Buffer) => {
        if (output.length < 4096) output += chunk.toString();
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        resolve({ code: 127, output: error.message });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: timedOut ? null : (code ?? 1), output });
      });
    });
  }

  #set(status: ContainerState): void {
    this.#status = status;
    this.#onChange();
  }
}

function readState(dir: string): StateFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StateFile;
  } catch {
    return undefined;
  }
}

function writeState(dir: string, state: StateFile): void {
  // No fsync: a power loss also ends the process, and a rename is atomic against the agent's own crash.
  const path = join(dir, 'state.json');
  writeFileSync(`${path}.tmp`, JSON.stringify(state));
  renameSync(`${path}.tmp`, path);
}

function readExitCode(dir: string): number | undefined {
  try {
    const code = Number.parseInt(readFileSync(join(dir, 'exit-code'), 'utf8'), 10);
    return Number.isNaN(code) ? undefined : code;
  } catch {
    return undefined;
  }
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (SIGNALS[signal] ?? 0) : 0;
}
