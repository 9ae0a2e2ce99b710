import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chown, readFile, writeFile } from 'node:fs/promises';

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

  /** Runs `podman ARGS` and resolves with its stdout; rejects with {@link PodmanError}. */
  run(args: readonly string[], options: RunOptions = {}): Promise<string> {
    const command = this.command(args);
    return new Promise((resolve, reject) => {
      const child = execFile(
        command.file,
        command.args,
        {
          env: command.env,
          cwd: '/',
          maxBuffer: 64 * 1024 * 1024,
          timeout: options.timeoutMs ?? 120_000,
          killSignal: 'SIGKILL',
        },
        (error, stdout, stderr) => {
          if (error) {
            const code = typeof error.code === 'number' ? error.code : null;
            reject(new PodmanError(args, code, String(stderr) || error.message));
          } else resolve(String(stdout));
        },
      );
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

  /** Starts a long-running `podman ARGS` (logs -f, events) with piped output. */
  spawn(args: readonly string[]): ChildProcess {
    const command = this.command(args);
    return spawn(command.file, command.args, {
      env: command.env,
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /**
   * Like {@link spawn}, for a `podman ARGS` that runs as long as the agent
   * does (`events`): it is tied to the agent by a pipe, so that it ends when
   * the agent ends, even killed (SIGKILL leaves no `podman events` behind,
   * which would keep running and keep the rootless user busy). End it with
   * {@link endTied}.
   */
  spawnTied(args: readonly string[]): ChildProcess {
    const command = this.command(args);
    return spawn('/bin/sh', ['-c', TIED, 'outpost-podman', command.file, ...command.args], {
      env: command.env,
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
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
 * Runs "$@" in the background and waits for it; a watcher ends it (SIGTERM;
 * runuser passes it on) once the shell's stdin, a pipe from the agent, closes.
 */
const TIED =
  'exec 3<&0; "$@" </dev/null 3<&- & p=$!; { read -r _ <&3; kill "$p" 2>/dev/null; } & w=$!; wait "$p"; c=$?; kill "$w" 2>/dev/null; exit "$c"';

/** Ends a {@link PodmanHost.spawnTied} process: its pipe closes, its watcher stops it. */
export function endTied(child: ChildProcess): void {
  child.stdin?.end();
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
