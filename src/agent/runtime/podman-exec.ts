import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

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
 * Creates (idempotently) the unprivileged user rootless units run as, with
 * a home, subordinate uid/gid ranges (`useradd -m` adds them from
 * login.defs) and its runtime directory; returns its identity. Needs root.
 */
export async function setupRootlessUser(name: string): Promise<RootlessUser> {
  let entry = await passwdEntry(name);
  if (!entry) {
    try {
      await execText('useradd', ['-m', '-s', '/usr/sbin/nologin', '-c', 'Outpost rootless workloads', name]);
    } catch (error) {
      // Another agent process may have created it at the same moment.
      if (!(await passwdEntry(name))) throw new Error(`create rootless user ${name}`, { cause: error });
    }
    entry = await passwdEntry(name);
    if (!entry) throw new Error(`rootless user ${name} missing after useradd`);
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const ranges = await readFile(file, 'utf8').catch(() => '');
    if (!ranges.split('\n').some((line) => line.startsWith(`${name}:`))) {
      throw new Error(
        `rootless user ${name} has no range in ${file}; add one (usermod --add-subuids/--add-subgids)`,
      );
    }
  }
  const runtimeDir = `/run/user/${entry.uid}`;
  await mkdir(runtimeDir, { recursive: true, mode: 0o700 });
  await chown(runtimeDir, entry.uid, entry.gid);
  await chmod(runtimeDir, 0o700);
  return { name, uid: entry.uid, gid: entry.gid, home: entry.home, runtimeDir };
}

/** The user's identity when it exists (no creation); used to adopt rootless units after a restart. */
export async function findRootlessUser(name: string): Promise<RootlessUser | undefined> {
  const entry = await passwdEntry(name);
  return entry ? setupRootlessUser(name) : undefined;
}

/** Writes the agent's containers.conf at `path` (0644: a rootless podman reads it too). */
export async function writeContainersConf(path: string, owner?: RootlessUser): Promise<void> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current !== CONTAINERS_CONF) await writeFile(path, CONTAINERS_CONF, { mode: 0o644 });
  if (owner) await chown(path, owner.uid, owner.gid);
}

/** Creates `dir` (and parents) owned by `owner` when given: the rootless user's state folder. */
export async function ownedDir(dir: string, owner: RootlessUser | undefined, mode = 0o700): Promise<string> {
  await mkdir(dir, { recursive: true, mode });
  if (owner) await chown(dir, owner.uid, owner.gid);
  return dir;
}

/** The rootless user's folder for one agent's state (unit volumes, containers.conf). */
export function rootlessStateDir(user: RootlessUser, owner: string): string {
  return join(user.home, '.outpost', owner);
}

async function passwdEntry(name: string): Promise<{ uid: number; gid: number; home: string } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 7) {
      return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? `/home/${name}` };
    }
  }
  return undefined;
}

function execText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000 }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${file}: ${lastLine(String(stderr)) || error.message}`))
        : resolve(String(stdout)),
    );
  });
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
