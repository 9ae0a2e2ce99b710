/**
 * Three network levels on one machine (root only): ISA-95 level 4, 3 and 2
 * as network namespaces joined by veth pairs, for `outpost demo --nested`
 * and the nested-network tests (test/support/levels.ts adds its probes).
 *
 *   root namespace (the hub) --- level 4 --- level 3 --- level 2
 *        up4 .1       .2 level4  down4 .5  .6 level3  down3 .9  .10 level2
 *
 * Each link is its own /30 in 10.0.0.0/8 (a block no address of the root
 * namespace is in, chosen at random, so several runs can build levels at
 * once). A level's namespace holds only its own links and loopback, no
 * default route and no forwarding: level 4 reaches the root namespace's end
 * of its link (where the hub listens), level 3 only level 4's lower end,
 * level 2 only level 3's lower end. Anything further goes through a proxy.
 *
 * Every name starts with the run's prefix (`PREFIX-l4` for namespaces,
 * `PREFIX-4u`... for veths): several runs never collide, and what a killed
 * run left is found by its prefix ({@link removeNamespaces}). `remove()`
 * stops every process still inside the namespaces (`ip netns pids`: only
 * this run's, as the namespaces are; SIGTERM for up to 3 s, then SIGKILL) and
 * deletes them, which deletes their veths; it runs on the process's exit too
 * (SIGKILL at once), should its owner forget.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { networkInterfaces } from 'node:os';

/** An ISA-95 level the harness builds. */
export type LevelNumber = 4 | 3 | 2;

/** One level's namespace and addresses. */
export interface Level {
  /** The network namespace (`nsenter --net=/run/netns/NAME ...`, see {@link nsenterArgs}). */
  readonly netns: string;
  /** Its address on the link to the level above: where the level above sees it come from. */
  readonly address: string;
  /** Its address on the link to the level below (levels 4 and 3): where the level below reaches it. */
  readonly downAddress: string;
  /** The network of its link up (a /30): what the level above declares as its child network. */
  readonly network: string;
  /** The veth of its link up, inside its namespace (take it down to cut the level off). */
  readonly uplink: string;
}

/** What a command run inside a level answered. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Three levels under the root namespace; see the module comment. */
export interface NetworkLevels {
  /** The root namespace's end of the link to level 4: the hub listens here. */
  readonly hubAddress: string;
  readonly levels: Readonly<Record<LevelNumber, Level>>;
  /** Runs `command args...` inside the level's namespace, whatever its exit code. */
  exec(level: LevelNumber, command: string, args: readonly string[]): Promise<CommandResult>;
  /** Cuts (false) or restores (true) the level's link to the level above. */
  setUplink(level: LevelNumber, up: boolean): Promise<void>;
  /** Kills every process left inside the namespaces and deletes them (their veths go with them). */
  remove(): Promise<void>;
}

/**
 * The arguments of `nsenter` before the command, for the namespace `name`:
 * `--net` alone, not `ip netns exec`, which also makes a mount namespace with
 * its own /sys (no cgroup file system there, so an agent started that way
 * finds no cgroups and its sandbox fails). nsenter execs the command: the
 * process started is the command itself.
 */
export function nsenterArgs(name: string): string[] {
  return [`--net=/run/netns/${name}`, '--'];
}

/** Whether this process may build levels (root, with `ip`). */
export function canBuildLevels(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a command, whatever its exit code (never throws). */
export function runCommand(
  command: string,
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      [...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

async function must(command: string, args: readonly string[]): Promise<void> {
  const result = await runCommand(command, args, 30_000);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.trim()}`);
}

/** A /24 of 10.0.0.0/8 that no address of the root namespace is in. */
function freeBlock(): string {
  const used = Object.values(networkInterfaces())
    .flat()
    .map((info) => info?.address ?? '');
  for (;;) {
    const block = `10.${randomInt(100, 250)}.${randomInt(0, 256)}`;
    if (!used.some((address) => address.startsWith(`${block}.`))) return block;
  }
}

/** The names of the network namespaces on the machine (`ip netns list`). */
export function namespaceNames(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** The processes inside the namespace `name` (none when it is gone). */
function pidsIn(name: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

/** SIGKILLs every process inside the namespaces and deletes them, at once (for an exit handler). */
function removeNamespacesNow(names: readonly string[]): void {
  for (const pid of names.flatMap(pidsIn)) signal(pid, 'SIGKILL');
  for (const name of names) {
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    } catch {
      // never made, or gone
    }
  }
}

/**
 * Stops every process inside the namespaces and deletes them (their veths go
 * with them). SIGTERM first, for up to 3 s: Squid and Mosquitto then remove
 * what they keep outside the namespace (an unsandboxed Squid's /dev/shm
 * segments, which would stop the next Squid started); then SIGKILL.
 */
export async function removeNamespaces(names: readonly string[]): Promise<void> {
  const inside = () => names.flatMap(pidsIn);
  for (let tries = 0; tries < 30 && inside().length > 0; tries++) {
    for (const pid of inside()) signal(pid, 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  removeNamespacesNow(names);
}

/** Builds the three levels named after `prefix` (at most 12 characters: veth names are short); see the module comment. */
export async function createNetworkLevels(prefix: string): Promise<NetworkLevels> {
  if (prefix.length > 12) throw new Error(`the levels' name prefix ${prefix} is longer than 12 characters`);
  const block = freeBlock();
  const at = (host: number) => `${block}.${host}`;
  const netns = (level: LevelNumber) => `${prefix}-l${level}`;
  const levels: Record<LevelNumber, Level> = {
    4: {
      netns: netns(4),
      address: at(2),
      downAddress: at(5),
      network: `${at(0)}/30`,
      uplink: `${prefix}-4u`,
    },
    3: {
      netns: netns(3),
      address: at(6),
      downAddress: at(9),
      network: `${at(4)}/30`,
      uplink: `${prefix}-3u`,
    },
    2: { netns: netns(2), address: at(10), downAddress: '', network: `${at(8)}/30`, uplink: `${prefix}-2u` },
  };
  const names = [4, 3, 2].map((level) => netns(level as LevelNumber));
  let removed = false;
  const removeNow = () => {
    if (removed) return;
    removed = true;
    removeNamespacesNow(names);
  };
  process.once('exit', removeNow);
  const inside = (level: LevelNumber, args: readonly string[]) =>
    must('ip', ['netns', 'exec', netns(level), ...args]);

  try {
    for (const name of names) await must('ip', ['netns', 'add', name]);
    // The root namespace's end of level 4's uplink stays in the root namespace.
    const links: [LevelNumber, string, string, string | undefined][] = [
      [4, `${prefix}-4h`, at(1), undefined],
      [3, `${prefix}-4d`, at(5), netns(4)],
      [2, `${prefix}-3d`, at(9), netns(3)],
    ];
    for (const [level, upperEnd, upperAddress, upperNetns] of links) {
      const lower = levels[level];
      await must('ip', ['link', 'add', upperEnd, 'type', 'veth', 'peer', 'name', lower.uplink]);
      await must('ip', ['link', 'set', lower.uplink, 'netns', lower.netns]);
      if (upperNetns) await must('ip', ['link', 'set', upperEnd, 'netns', upperNetns]);
      const upperIp = (args: string[]) =>
        upperNetns ? must('ip', ['netns', 'exec', upperNetns, 'ip', ...args]) : must('ip', args);
      await upperIp(['addr', 'add', `${upperAddress}/30`, 'dev', upperEnd]);
      await upperIp(['link', 'set', upperEnd, 'up']);
      await inside(level, ['ip', 'addr', 'add', `${lower.address}/30`, 'dev', lower.uplink]);
      await inside(level, ['ip', 'link', 'set', lower.uplink, 'up']);
    }
    for (const level of [4, 3, 2] as const) {
      await inside(level, ['ip', 'link', 'set', 'lo', 'up']);
      // New namespaces may inherit forwarding from the root's (devconf_inherit_init_net): never route.
      await inside(level, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    }
  } catch (error) {
    removeNow();
    process.removeListener('exit', removeNow);
    throw error;
  }

  return {
    hubAddress: at(1),
    levels,
    exec: (level, command, args) => runCommand('nsenter', [...nsenterArgs(netns(level)), command, ...args]),
    setUplink: (level, up) => inside(level, ['ip', 'link', 'set', levels[level].uplink, up ? 'up' : 'down']),
    async remove() {
      if (!removed) await removeNamespaces(names);
      removed = true;
      process.removeListener('exit', removeNow);
    },
  };
}
