/**
 * How the process runtime enforces a container's `resources.limits`.
 *
 * - cgroup v2, where the host delegates it: the agent's own cgroup (from
 *   /proc/self/cgroup, on a cgroup2 mount) offers the `memory` and `cpu`
 *   controllers and is writable. The agent moves itself into a leaf
 *   `agent/` (v2 allows processes only in leaves of a tree with
 *   controllers), enables both controllers for `units/`, and gives each
 *   container `units/<name>` with `memory.max` and `cpu.max`.
 * - cgroup v1, where the `memory` hierarchy is mounted and the agent may make
 *   groups in it (root): `outpost-<agent>/<name>` with
 *   `memory.limit_in_bytes` (and swap kept out where `memsw` exists), and in
 *   the `cpu` hierarchy `cpu.cfs_quota_us` over `cpu.cfs_period_us`.
 * - Otherwise rlimits: `prlimit --as=BYTES` around the container's command,
 *   which caps each process's address space (an allocation past it fails;
 *   most programs then exit). CPU has no rlimit for a rate: it is not
 *   enforced, and the status says so.
 *
 * The shim (container.ts) writes its own pid into the container's groups
 * before it runs the command, so every process of the container is in them.
 * On a kill by the memory limit the group's `oom_kill` counter rises: the
 * container's reason is then `OOMKilled`, as Kubernetes reports it.
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type ContainerLimits, formatBytes } from '../resources.ts';

/** Which mechanism enforces limits on this host, and why this one. */
export type LimitMechanism =
  | { readonly kind: 'cgroup2'; readonly units: string; readonly why: string }
  | { readonly kind: 'cgroup1'; readonly memory: string; readonly cpu?: string; readonly why: string }
  | { readonly kind: 'rlimit'; readonly why: string };

/** What one container gets: the groups its shim joins and the argv prefix (prlimit). */
export interface ContainerEnforcement {
  /** `cgroup.procs` files the shim writes its pid to. */
  readonly procs: readonly string[];
  /** Put before the (sandboxed) command. */
  readonly prefix: readonly string[];
  /** What the status says about the limits. */
  readonly note?: string;
  /** Whether the memory limit killed a process since `since` (the counter before the start). */
  readonly oomKills: () => number;
  /** Removes the groups (after the container's processes are gone). */
  readonly cleanup: () => void;
}

/**
 * Finds how limits can be enforced here. `off`: rlimits only. `name` keeps
 * two agents' groups apart (the data dir's hash).
 */
export function detectLimitMechanism(mode: 'auto' | 'off', name: string): LimitMechanism {
  if (mode === 'off') return { kind: 'rlimit', why: 'cgroups turned off (--cgroups off)' };
  const v2 = cgroup2(name);
  if (v2.kind === 'cgroup2') return v2;
  const v1 = cgroup1(name);
  if (v1.kind === 'cgroup1') return { ...v1, why: `${v2.why}; ${v1.why}` };
  return { kind: 'rlimit', why: `${v2.why}; ${v1.why}` };
}

function cgroup2(name: string): LimitMechanism {
  const mount = mountsOf('cgroup2')[0]?.path;
  if (!mount) return { kind: 'rlimit', why: 'no cgroup2 mount' };
  const own = /^0::(.*)$/m.exec(read('/proc/self/cgroup') ?? '')?.[1];
  if (own === undefined) return { kind: 'rlimit', why: 'the agent is in no cgroup v2 group' };
  const dir = join(mount, own);
  const controllers = (read(join(dir, 'cgroup.controllers')) ?? '').split(/\s+/);
  if (!controllers.includes('memory') || !controllers.includes('cpu'))
    return {
      kind: 'rlimit',
      why: `cgroup v2 (${mount}) delegates no memory and cpu controllers to the agent's group ${own}`,
    };
  try {
    accessSync(join(dir, 'cgroup.subtree_control'), constants.W_OK);
    const enabled = (read(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/);
    if (!enabled.includes('memory') || !enabled.includes('cpu')) {
      // Processes only in leaves (the root group excepted): the group's processes move into a leaf first.
      if (own !== '/') {
        const agent = join(dir, 'agent');
        mkdirSync(agent, { recursive: true });
        for (const pid of (read(join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean))
          writeFileSync(join(agent, 'cgroup.procs'), pid);
      }
      writeFileSync(join(dir, 'cgroup.subtree_control'), '+memory +cpu');
    }
    const units = join(dir, `outpost-${name}`);
    mkdirSync(units, { recursive: true });
    writeFileSync(join(units, 'cgroup.subtree_control'), '+memory +cpu');
    return { kind: 'cgroup2', units, why: `cgroup v2 delegated at ${dir}` };
  } catch (error) {
    return { kind: 'rlimit', why: `cgroup v2 group ${dir} not usable: ${(error as Error).message}` };
  }
}

function cgroup1(name: string): LimitMechanism {
  const memory = mountsOf('cgroup').find((m) => m.options.includes('memory'))?.path;
  if (!memory) return { kind: 'rlimit', why: 'no cgroup v1 memory hierarchy' };
  const root = join(memory, `outpost-${name}`);
  // Probed by making the group and removing it again: groups are made when a container with limits starts.
  const probe = canMakeGroup(root);
  if (probe) return { kind: 'rlimit', why: `cgroup v1 memory hierarchy not writable: ${probe}` };
  const cpuMount = mountsOf('cgroup').find((m) => m.options.split(',').includes('cpu'))?.path;
  const cpu =
    cpuMount && !canMakeGroup(join(cpuMount, `outpost-${name}`))
      ? join(cpuMount, `outpost-${name}`)
      : undefined;
  return {
    kind: 'cgroup1',
    memory: root,
    ...(cpu ? { cpu } : {}),
    why: `cgroup v1 memory hierarchy at ${memory}`,
  };
}

/**
 * Prepares the enforcement of `limits` for one container (`key`: unique per
 * unit, replica and container; `[a-z0-9.-]`).
 */
export function enforcementOf(
  mechanism: LimitMechanism,
  key: string,
  limits: ContainerLimits,
): ContainerEnforcement {
  const none = { procs: [], prefix: [], oomKills: () => 0, cleanup: () => {} };
  const { memoryBytes, cpuMillis } = limits;
  if (memoryBytes === undefined && cpuMillis === undefined) return none;
  const memoryWords = memoryBytes !== undefined ? `memory ${formatBytes(memoryBytes)}` : undefined;
  const cpuWords = cpuMillis !== undefined ? `cpu ${cpuMillis}m` : undefined;
  if (mechanism.kind === 'rlimit') {
    const parts = [
      memoryWords && `${memoryWords} as RLIMIT_AS of each process (prlimit)`,
      cpuWords && `${cpuWords} not enforced`,
    ].filter(Boolean);
    return {
      ...none,
      prefix: memoryBytes !== undefined ? ['prlimit', `--as=${memoryBytes}`, '--'] : [],
      note: `limits: ${parts.join(', ')} (no cgroup: ${mechanism.why})`,
    };
  }
  if (mechanism.kind === 'cgroup2') {
    const dir = join(mechanism.units, key);
    mkdirSync(dir, { recursive: true });
    if (memoryBytes !== undefined) {
      writeFileSync(join(dir, 'memory.max'), String(memoryBytes));
      tryWrite(join(dir, 'memory.swap.max'), '0');
    }
    if (cpuMillis !== undefined) writeFileSync(join(dir, 'cpu.max'), `${cpuMillis * 100} 100000`);
    return {
      procs: [join(dir, 'cgroup.procs')],
      prefix: [],
      note: `limits: ${[memoryWords, cpuWords].filter(Boolean).join(', ')} by cgroup v2`,
      oomKills: () => counter(join(dir, 'memory.events'), 'oom_kill'),
      cleanup: () => removeGroup(dir),
    };
  }
  const memoryDir = join(mechanism.memory, key);
  mkdirSync(memoryDir, { recursive: true });
  const procs = [join(memoryDir, 'cgroup.procs')];
  if (memoryBytes !== undefined) {
    writeFileSync(join(memoryDir, 'memory.limit_in_bytes'), String(memoryBytes));
    // Swap counts too where the kernel accounts it: the limit is then memory and swap together.
    tryWrite(join(memoryDir, 'memory.memsw.limit_in_bytes'), String(memoryBytes));
  }
  let cpuDir: string | undefined;
  if (cpuMillis !== undefined && mechanism.cpu) {
    cpuDir = join(mechanism.cpu, key);
    mkdirSync(cpuDir, { recursive: true });
    writeFileSync(join(cpuDir, 'cpu.cfs_period_us'), '100000');
    writeFileSync(join(cpuDir, 'cpu.cfs_quota_us'), String(cpuMillis * 100));
    procs.push(join(cpuDir, 'cgroup.procs'));
  }
  const cpuNote = cpuWords && (cpuDir ? cpuWords : `${cpuWords} not enforced (no cgroup v1 cpu hierarchy)`);
  return {
    procs,
    prefix: [],
    note: `limits: ${[memoryWords, cpuNote].filter(Boolean).join(', ')} by cgroup v1 (${mechanism.why})`,
    oomKills: () => counter(join(memoryDir, 'memory.oom_control'), 'oom_kill'),
    cleanup: () => {
      removeGroup(memoryDir);
      if (cpuDir) removeGroup(cpuDir);
      // The agent's own groups too, once empty (made again by the next container with limits).
      removeLimitRoots(mechanism);
    },
  };
}

/** Removes the agent's own groups (once no unit runs); groups still in use stay. */
export function removeLimitRoots(mechanism: LimitMechanism): void {
  if (mechanism.kind === 'cgroup2') removeGroup(mechanism.units);
  if (mechanism.kind === 'cgroup1') {
    removeGroup(mechanism.memory);
    if (mechanism.cpu) removeGroup(mechanism.cpu);
  }
}

/** The path of each mount of file system type `type`, with its options. */
function mountsOf(type: string): { path: string; options: string }[] {
  const mounts: { path: string; options: string }[] = [];
  for (const line of (read('/proc/self/mountinfo') ?? '').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const [fstype, , superOptions] = right.split(' ');
    if (fstype !== type) continue;
    const fields = left.split(' ');
    // Only mounts of a hierarchy's root: a bind of a sub-group (a container's view) has other paths.
    if (fields[3] !== '/') continue;
    mounts.push({ path: fields[4] ?? '', options: `${fields[5] ?? ''},${superOptions ?? ''}` });
  }
  return mounts;
}

/** Makes `dir` (a group) and removes it again; the error's message when it cannot. */
function canMakeGroup(dir: string): string | undefined {
  try {
    const made = !existsSync(dir);
    mkdirSync(dir, { recursive: true });
    accessSync(join(dir, 'cgroup.procs'), constants.W_OK);
    if (made) removeGroup(dir);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

function counter(file: string, name: string): number {
  const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(read(file) ?? '');
  return match ? Number(match[1]) : 0;
}

function removeGroup(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // still has processes (they are being killed) or already gone: the next start of the key reuses it
  }
}

function tryWrite(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch {
    // not accounted by this kernel
  }
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
