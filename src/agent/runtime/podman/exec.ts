import { type ChildProcess, spawn } from 'node:child_process';
import { chown, readFile, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/**
 * The containers.conf the agent points podman at with `CONTAINERS_CONF`, so
 * nothing system-wide changes: runc (crun rejects this platform's hybrid
 * cgroups), ulimits the sandbox allows (soft = hard, or podman 4.3 fails for
 * the infra container), cgroupfs and file events (no systemd/journald on
 * these devices), and size-bounded k8s-file logs.
 */
export const CONTAINERS_CONF = `# Written by the Outpost agent; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
log_driver = "k8s-file"
log_size_max = 10485760

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

/** A podman command that failed: its arguments, exit code and what it printed on stderr. */
export class PodmanError extends Error {
  override readonly name = 'PodmanError';
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`podman ${args.slice(0, 3).join(' ')}: ${lastLine(stderr) || `exit code ${exitCode}`}`);
  }
}

/** The unprivileged user rootless units run as. */
export interface RootlessUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  /** `XDG_RUNTIME_DIR` for its podman: `/run/user/<uid>`, owned by it, mode 0700. */
  readonly runtimeDir: string;
}

/** Options of one podman command. */
export interface RunOptions {
  /** Written to the command's stdin (e.g. the pods' YAML for `play kube -`). */
  readonly input?: string;
  /** Killed after this long. @default 120000 */
  readonly timeoutMs?: number;
}

/**
 * One podman image and container store: root's (rootful) or the rootless
 * user's. Every command is asynchronous (never blocks the agent's event loop)
 * and runs with the agent's containers.conf.
 */
export class PodmanHost {
  constructor(
    /** The containers.conf file (readable by the rootless user for a rootless host). */
    readonly confPath: string,
    /** Set for the rootless store. */
    readonly user?: RootlessUser,
  ) {}

  get rootless(): boolean {
    return this.user !== undefined;
  }

  /** The executable and arguments that run `podman ARGS` in this store. */
  command(args: readonly string[]): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CONTAINERS_CONF: this.confPath,
      LANG: 'C.UTF-8',
    };
    if (!this.user)
      return { file: 'podman', args: [...args], env: { ...env, HOME: process.env.HOME ?? '/root' } };
    const user = this.user;
    return {
      file: 'runuser',
      args: [
        '-u',
        user.name,
        '--',
        'env',
        `HOME=${user.home}`,
        `XDG_RUNTIME_DIR=${user.runtimeDir}`,
        `CONTAINERS_CONF=${this.confPath}`,
        'podman',
        ...args,
      ],
      env,
    };
  }

  /**
   * Runs `podman ARGS` and resolves with its stdout; rejects with {@link PodmanError}.
   * In a process group of its own, so that a timeout kills podman and not only the
   * runuser in front of a rootless one (killed alone, runuser leaves podman orphaned).
   */
  run(args: readonly string[], options: RunOptions = {}): Promise<string> {
    const command = this.command(args);
    const timeoutMs = options.timeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
      const child = spawn(command.file, command.args, {
        env: command.env,
        cwd: '/',
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
      const stdout = collect(child.stdout!, MAX_OUTPUT, () => killGroup(child, 'SIGKILL'));
      const stderr = collect(child.stderr!, MAX_OUTPUT, () => killGroup(child, 'SIGKILL'));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child, 'SIGKILL');
      }, timeoutMs);
      const fail = (message: string, code: number | null = null) => {
        clearTimeout(timer);
        reject(new PodmanError(args, code, message));
      };
      child.on('error', (error) => fail(error.message));
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) fail(`timed out after ${timeoutMs} ms`);
        else if (code === 0) resolve(stdout.text());
        else fail(stderr.text() || `exit code ${code ?? signal}`, code);
      });
      child.stdin?.on('error', () => {}); // a command that exits before reading its input
      child.stdin?.end(options.input ?? '');
    });
  }

  /** Runs `podman ARGS` and parses its JSON output (`[]` for empty output). */
  async json<T>(args: readonly string[]): Promise<T> {
    const out = (await this.run(args)).trim();
    return JSON.parse(out === '' || out === 'null' ? '[]' : out) as T;
  }

  /** Whether `podman ARGS` exits 0 (for `image exists`, `container exists`). */
  async succeeds(args: readonly string[]): Promise<boolean> {
    try {
      await this.run(args);
      return true;
    } catch (error) {
      if (error instanceof PodmanError && error.exitCode === 1) return false;
      throw error;
    }
  }

  /** Starts `podman ARGS` (save) with piped output. */
  spawn(args: readonly string[]): ChildProcess {
    const command = this.command(args);
    return spawn(command.file, command.args, {
      env: command.env,
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /**
   * Like {@link spawn}, for a `podman ARGS` that may run as long as the agent
   * does (`events`, `logs --follow`): it is tied to the agent by a pipe, so that
   * it ends when the agent ends, even killed (SIGKILL leaves no podman behind,
   * which would keep running and keep the rootless user busy). It runs in a
   * process group of its own, which the watcher ends whole: a rootless podman
   * runs as a child of runuser (and forks again into its user namespace), and
   * killing runuser alone left `podman events` orphaned. End it with
   * {@link endTied}.
   */
  spawnTied(args: readonly string[]): ChildProcess {
    const command = this.command(args);
    return spawn('/bin/sh', ['-c', TIED, 'outpost-podman', command.file, ...command.args], {
      env: command.env,
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
  }

  /** Like {@link spawn}, with a writable stdin (for `podman load`). */
  spawnWithInput(args: readonly string[]): ChildProcess {
    const command = this.command(args);
    return spawn(command.file, command.args, {
      env: command.env,
      cwd: '/',
      stdio: ['pipe', 'ignore', 'pipe'],
    });
  }
}

/**
 * Runs "$@" in the background and waits for it; a watcher ends the whole
 * process group (SIGTERM, SIGKILL 5 s later for what remains) once the shell's
 * stdin, a pipe from the agent, closes. The shell and the watcher ignore that
 * SIGTERM (set after "$@" started, which keeps the default), so the shell still
 * reports podman's exit; the watcher keeps none of the agent's pipes open, and
 * the shell writes nothing to them (dash reports a job's signal on stderr, and
 * with the agent gone that write would end the shell before its watcher).
 */
const TIED =
  'exec 3<&0; "$@" </dev/null 3<&- & p=$!; ' +
  '{ trap "" TERM; read -r _ <&3; kill -TERM 0; sleep 5; kill -KILL 0; } </dev/null >/dev/null 2>&1 & w=$!; ' +
  'exec 3<&- 2>/dev/null; trap "" TERM; wait "$p"; c=$?; kill -KILL "$w" 2>/dev/null; exit "$c"';

/** Ends a {@link PodmanHost.spawnTied} process: its pipe closes, its watcher ends its group. */
export function endTied(child: ChildProcess): void {
  child.stdin?.end();
}

/** What a command may print before it is killed (a JSON listing of many pods stays far below). */
const MAX_OUTPUT = 64 * 1024 * 1024;

/** Gathers a stream's text, calling `overflow` once it passes `max` bytes. */
function collect(stream: Readable, max: number, overflow: () => void): { text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= max) chunks.push(chunk);
    else overflow();
  });
  return { text: () => Buffer.concat(chunks).toString() };
}

/** Sends `signal` to the process group of a child spawned `detached` (its leader). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group has ended
  }
}

/** Writes the agent's containers.conf at `path` (0644: a rootless podman reads it too). */
export async function writeContainersConf(path: string, owner?: RootlessUser): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current !== CONTAINERS_CONF) await writeFile(path, CONTAINERS_CONF, { mode: 0o644 });
  if (owner) await chown(path, owner.uid, owner.gid);
}

/** The last non-empty line of a command's stderr, without podman's `Error: ` prefix and noise. */
export function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(
      (line) =>
        line !== '' && !line.startsWith('failed to connect to syslog') && !line.includes('level=warning'),
    );
  return (lines.at(-1) ?? '').replace(/^Error: /, '').slice(0, 500);
}
