/**
 * How a process container is confined: which user it runs as and what it
 * sees of the device.
 *
 * With bubblewrap (run by the agent, as root) the container gets a view of
 * its own: the system's program folders read-only, the agent's own program
 * (node and its checkout, for `outpost`) read-only, its working folder and
 * declared volumes, a private `/tmp`, a minimal `/dev` and a `/proc` of a new
 * pid namespace (it cannot walk to the agent's process or any other). Inside
 * it, `setpriv` drops to the unit's own uid with no capabilities, unless the
 * pod asked for root. Without bubblewrap only the user switch remains: the
 * data dir (0700, root) and the other units' folders (0700, their own uids)
 * are then kept out by their modes.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { ContainerConfigError } from '../container-env.ts';
import type { ContainerShape, PodSpecShape } from '../pod-spec.ts';
import { isWithin } from '../volumes.ts';
import type { Bind } from './binds.ts';

/** Who a container runs as. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  /**
   * Root only: the capabilities it keeps ('all' for a privileged container);
   * empty for root without any. Unset for an unprivileged uid.
   */
  readonly capabilities?: readonly string[] | 'all';
}

/** The device-wide part of the confinement, the same for every container. */
export interface SandboxSettings {
  /** bubblewrap is installed: containers get a view of their own. */
  readonly bwrap: boolean;
  /** The agent runs as root and so can switch users (else containers run as the agent's user). */
  readonly switchUser: boolean;
  /** Read-only binds of the programs a container may run besides the system's (the agent's node and checkout). */
  readonly programPaths: readonly string[];
  /** Folders no container may see (the agent's data dir): hidden under an empty tmpfs when a bind would show them. */
  readonly hidden: readonly string[];
  /** Folders hidden the same way, of which a unit may be bound its own part (upload folders). */
  readonly concealed: readonly string[];
}

/** What the sandbox needs of one container's plan. */
export interface SandboxedCommand {
  readonly argv: readonly string[];
  /** The host folder the container works in (bound at the same path). */
  readonly cwd: string;
  readonly workingDir?: string;
  readonly binds: readonly Bind[];
  readonly runAs: RunAs;
}

/** The host folders every view holds read-only (those that exist): programs, libraries, configuration. */
export const SYSTEM_DIRS: readonly string[] = [
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/etc',
  // systemd-resolved's stub: /etc/resolv.conf often points there.
  '/run/systemd/resolve',
];

/** The command line that runs `command` confined: bwrap and/or setpriv around its argv. */
export function sandboxedArgv(command: SandboxedCommand, settings: SandboxSettings): string[] {
  const drop = settings.switchUser && command.runAs.uid !== 0 ? setprivArgs(command.runAs) : [];
  if (!settings.bwrap) return [...drop, ...command.argv];
  // A private /dev/shm any uid may use, as a container has: bwrap's own is root's, and programs
  // such as Squid keep their shared memory there (its IPC namespace is the unit's own).
  const args = ['bwrap', '--unshare-pid', '--unshare-ipc', '--proc', '/proc', '--dev', '/dev'];
  args.push('--perms', '1777', '--tmpfs', '/dev/shm');
  const readOnly = [...SYSTEM_DIRS, ...settings.programPaths];
  // bwrap makes missing mount points 0700 (root's): made here first, 0755, so that the unit's uid can pass.
  const made = new Set<string>(['/tmp']);
  const mountPoint = (path: string) => {
    for (const folder of ancestorsOf(path)) {
      if (made.has(folder) || readOnly.some((dir) => isWithin(folder, dir))) continue;
      made.add(folder);
      args.push('--perms', '0755', '--dir', folder);
    }
  };
  for (const dir of SYSTEM_DIRS) args.push('--ro-bind-try', dir, dir);
  // /tmp first: the agent's program may itself live under /tmp (a checkout in /tmp/x).
  args.push('--perms', '1777', '--tmpfs', '/tmp');
  for (const path of settings.programPaths) {
    mountPoint(path);
    args.push('--ro-bind-try', path, path);
  }
  // Before the container's own folders, which may lie inside a hidden one (its working folder is in the data dir).
  for (const hidden of [...settings.hidden, ...settings.concealed])
    if (readOnly.some((path) => isWithin(hidden, path))) args.push('--perms', '0755', '--tmpfs', hidden);
  for (const [source, target, ro] of [
    [command.cwd, command.cwd, false] as const,
    ...command.binds.map((bind) => [bind.source, bind.target, bind.readOnly] as const),
  ]) {
    mountPoint(target);
    args.push(ro ? '--ro-bind' : '--bind', source, target);
  }
  if (settings.switchUser && command.runAs.uid === 0) {
    const caps = command.runAs.capabilities ?? [];
    if (caps === 'all') args.push('--cap-add', 'ALL');
    else {
      args.push('--cap-drop', 'ALL');
      for (const cap of caps) args.push('--cap-add', `CAP_${cap.replace(/^CAP_/, '')}`);
    }
  }
  args.push('--chdir', command.workingDir ?? command.cwd, '--', ...drop, ...command.argv);
  return args;
}

/**
 * The command line that runs a probe's `command` in a running container's
 * confinement: with bubblewrap, in the namespaces of `insidePid` (a process
 * of the container, see proc.ts `sandboxedPidOf`): its files, its /tmp, its
 * /proc, its root and working folder; then, as the container, dropped to its
 * uid (or, for root, to the capabilities it keeps). Without bubblewrap only
 * the user switch applies, as for the container.
 */
export function probeArgv(
  command: readonly string[],
  runAs: RunAs,
  settings: SandboxSettings,
  insidePid: number | undefined,
): string[] {
  const drop = !settings.switchUser
    ? []
    : runAs.uid !== 0
      ? setprivArgs(runAs)
      : runAs.capabilities === 'all'
        ? []
        : [
            'setpriv',
            `--bounding-set=-all${(runAs.capabilities ?? []).map((cap) => `,+${cap.replace(/^CAP_/, '').toLowerCase()}`).join('')}`,
            '--',
          ];
  if (!settings.bwrap) return [...drop, ...command];
  if (insidePid === undefined) throw new Error('the container is not running');
  return ['nsenter', '-t', String(insidePid), '-m', '-p', '-i', '-r', '-w', '--', ...drop, ...command];
}

/** setpriv dropping to `runAs` for good: no groups, no capabilities (bounding set included), no new privileges. */
function setprivArgs(runAs: RunAs): string[] {
  return [
    'setpriv',
    `--reuid=${runAs.uid}`,
    `--regid=${runAs.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

/**
 * Who a container runs as: the unit's own uid, unless the pod asks for root
 * (`runAsUser: 0` on the container, else the pod, and `runAsNonRoot` not
 * true; or `privileged: true`), which the hub's Pod Security admission
 * allowed (baseline allows root, restricted does not). Root keeps only the
 * capabilities the container adds (all when privileged). Another non-zero
 * `runAsUser` is not honoured: uids on a device are its real users, so the
 * unit keeps its own.
 * @throws ContainerConfigError root without bubblewrap (it would see the whole device, the data dir included)
 */
export function runAsOf(
  spec: PodSpecShape,
  container: ContainerShape,
  unitUid: number,
  settings: Pick<SandboxSettings, 'bwrap'>,
): RunAs {
  const pod = record(spec.securityContext);
  const own = record(container.securityContext);
  const runAsUser = own.runAsUser ?? pod.runAsUser;
  const runAsNonRoot = own.runAsNonRoot ?? pod.runAsNonRoot;
  const privileged = own.privileged === true;
  const root = privileged || (runAsUser === 0 && runAsNonRoot !== true);
  if (!root) return { uid: unitUid, gid: unitUid };
  if (!settings.bwrap)
    throw new ContainerConfigError(
      `container ${container.name} asks to run as root, which needs bubblewrap on this device (without it a root process would see the agent's data dir)`,
    );
  const added = record(own.capabilities).add;
  const capabilities = privileged
    ? 'all'
    : Array.isArray(added)
      ? added.filter((cap): cap is string => typeof cap === 'string')
      : [];
  return { uid: 0, gid: 0, capabilities };
}

/**
 * The read-only binds that let a container run the agent's own `outpost`
 * (see self-command.ts) however the agent was installed: the node
 * executable's installation when it is not a system one, and from the
 * checkout of the agent's script only what running it needs
 * (`package.json`, the folder holding the script, `bin`, `src`, `dist`,
 * `node_modules`): never the checkout as a whole, which may hold a data dir
 * (the demo keeps its own in `.outpost/`).
 */
export function programPathsOf(execPath: string, script: string | undefined): string[] {
  const paths: string[] = [];
  const node = realpathOr(execPath);
  if (!SYSTEM_DIRS.some((dir) => isWithin(node, dir))) paths.push(dirname(dirname(node)));
  if (script) {
    const root = packageRootOf(realpathOr(script));
    if (root) {
      const top = relative(root, realpathOr(script)).split(sep)[0];
      for (const entry of new Set(['package.json', 'bin', 'src', 'dist', 'node_modules', top ?? 'bin'])) {
        const path = join(root, entry);
        if (existsSync(path)) paths.push(path);
        // A symlinked node_modules (a shared install) is bound where it points as well: modules resolve there.
        const real = realpathOr(path);
        if (real !== path && existsSync(real)) paths.push(real);
      }
    }
  }
  return [...new Set(paths)];
}

/** The folders above `path`, outermost first, `/` excluded. */
function ancestorsOf(path: string): string[] {
  const folders: string[] = [];
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) folders.unshift(dir);
  return folders;
}

function packageRootOf(file: string): string | undefined {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dir === dirname(dir)) return undefined;
  }
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
