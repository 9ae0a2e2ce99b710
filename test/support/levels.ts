/**
 * Three network levels on one machine, for the nested-network tests (root
 * only): ISA-95 level 4, 3 and 2 as network namespaces joined by veth pairs.
 *
 *   root namespace (the hub) --- level 4 --- level 3 --- level 2
 *        up4 .1       .2 level4  down4 .5  .6 level3  down3 .9  .10 level2
 *
 * Each link is its own /30 in 10.0.0.0/8 (a block no address of the root
 * namespace is in, chosen at random, so several test files can build levels
 * at once). A level's namespace holds only its own links and loopback, no
 * default route and no forwarding: level 4 reaches the root namespace's end
 * of its link (where the hub listens), level 3 only level 4's lower end,
 * level 2 only level 3's lower end. Anything further goes through a proxy.
 *
 * Names carry a per-run id (`opl<id>-l4`, veths `opl<id>-4u`...): several
 * runs never collide. `remove()` stops every process still inside the
 * namespaces (`ip netns pids`: only this run's, as the namespaces are;
 * SIGTERM for up to 3 s, then SIGKILL) and deletes them, which deletes their
 * veths; it runs on the process's exit too (SIGKILL at once), should a test
 * forget.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { run } from './hub-process.ts';
import { nsenterArgs } from './netns.ts';

/** An ISA-95 level the harness builds. */
export type LevelNumber = 4 | 3 | 2;

/** One level's namespace and addresses. */
export interface Level {
  /** The network namespace (`nsenter --net=/run/netns/NAME ...`, see netns.ts). */
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

/** Three levels under the root namespace; see the module comment. */
export interface Levels {
  /** The root namespace's end of the link to level 4: the hub listens here. */
  readonly hubAddress: string;
  readonly levels: Readonly<Record<LevelNumber, Level>>;
  /** Runs `command args...` inside the level's namespace, whatever its exit code. */
  exec(level: LevelNumber, command: string, args: readonly string[]): ReturnType<typeof run>;
  /**
   * Opens a TCP connection from inside the level to `host:port`: `ok`, or the
   * error's code (`ENETUNREACH`: no route; `ECONNREFUSED`: reached, nothing listens), or `TIMEOUT`.
   */
  reach(level: LevelNumber, host: string, port: number): Promise<string>;
  /**
   * Asks the proxy at `proxy` (`host:port`) from inside the level to CONNECT to
   * `target` (`host:port`): the HTTP status it answers as text (`200`, `403`),
   * or the connection's error code as {@link reach} gives it.
   */
  proxyConnect(level: LevelNumber, proxy: string, target: string): Promise<string>;
  /** Cuts (false) or restores (true) the level's link to the level above. */
  setUplink(level: LevelNumber, up: boolean): Promise<void>;
  /** Kills every process left inside the namespaces and deletes them (their veths go with them). */
  remove(): Promise<void>;
}

/** What every probe script starts with: `net`, `s`, `done(word)` (prints it and exits), errors and a 10 s limit. */
const PROBE_PRELUDE =
  "const net=require('node:net');let s;const done=(w)=>{console.log(w);process.exit(0)};" +
  // A connection's unhandled 'error' event arrives here.
  "setTimeout(()=>done('TIMEOUT'),10000);process.on('uncaughtException',(e)=>done(e.code||e.message));";

function splitHostPort(text: string): [string, number] {
  const at = text.lastIndexOf(':');
  return [text.slice(0, at).replace(/^\[|\]$/g, ''), Number(text.slice(at + 1))];
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

async function must(command: string, args: readonly string[]): Promise<void> {
  const result = await run(command, args, { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr.trim()}`);
}

/** Builds the three levels; see the module comment. Call `remove()` in the test's `after`. */
export async function createLevels(): Promise<Levels> {
  const id = randomBytes(3).toString('hex');
  const block = freeBlock();
  const at = (host: number) => `${block}.${host}`;
  const netns = (level: LevelNumber) => `opl${id}-l${level}`;
  const levels: Record<LevelNumber, Level> = {
    4: { netns: netns(4), address: at(2), downAddress: at(5), network: `${at(0)}/30`, uplink: `opl${id}-4u` },
    3: { netns: netns(3), address: at(6), downAddress: at(9), network: `${at(4)}/30`, uplink: `opl${id}-3u` },
    2: { netns: netns(2), address: at(10), downAddress: '', network: `${at(8)}/30`, uplink: `opl${id}-2u` },
  };
  const names = [4, 3, 2].map((level) => netns(level as LevelNumber));
  let removed = false;
  /** The processes inside this run's namespaces (only this run's: the namespaces are). */
  const pidsInside = () =>
    names.flatMap((name) => {
      try {
        return execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' })
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
      } catch {
        return []; // never made, or gone
      }
    });
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // gone already
    }
  };
  const removeNow = () => {
    if (removed) return;
    removed = true;
    for (const pid of pidsInside()) signal(pid, 'SIGKILL');
    for (const name of names) {
      try {
        execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
      } catch {
        // never made, or gone
      }
    }
  };
  process.once('exit', removeNow);
  const inside = (level: LevelNumber, args: readonly string[]) =>
    must('ip', ['netns', 'exec', netns(level), ...args]);

  try {
    for (const name of names) await must('ip', ['netns', 'add', name]);
    // The root namespace's end of level 4's uplink stays in the root namespace.
    const hubSide = `opl${id}-4h`;
    const links: [LevelNumber, string, string, string | undefined][] = [
      [4, hubSide, at(1), undefined],
      [3, `opl${id}-4d`, at(5), netns(4)],
      [2, `opl${id}-3d`, at(9), netns(3)],
    ];
    for (const [level, upperEnd, upperAddress, upperNetns] of links) {
      const lower = levels[level];
      await must('ip', ['link', 'add', upperEnd, 'type', 'veth', 'peer', 'name', lower.uplink]);
      await must('ip', ['link', 'set', lower.uplink, 'netns', lower.netns]);
      const upper = upperNetns ? ['ip', 'netns', 'exec', upperNetns] : [];
      if (upperNetns) await must('ip', ['link', 'set', upperEnd, 'netns', upperNetns]);
      const upperIp = async (args: string[]) =>
        upperNetns ? must(upper[0]!, [...upper.slice(1), 'ip', ...args]) : must('ip', args);
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
    throw error;
  }

  const exec = (level: LevelNumber, command: string, args: readonly string[]) =>
    run('nsenter', [...nsenterArgs(netns(level)), command, ...args], { timeoutMs: 60_000 });
  /** Runs a connecting script with node inside the level; it prints one word. */
  const probe = async (level: LevelNumber, script: string) =>
    (await exec(level, process.execPath, ['-e', `${PROBE_PRELUDE}${script}`])).stdout.trim() || 'NO ANSWER';
  return {
    hubAddress: at(1),
    levels,
    exec,
    reach: (level, host, port) =>
      probe(level, `s=net.connect(${port},${JSON.stringify(host)});s.on('connect',()=>done('ok'))`),
    proxyConnect(level, proxy, target) {
      const [host, port] = splitHostPort(proxy);
      return probe(
        level,
        `s=net.connect(${port},${JSON.stringify(host)});let t='';` +
          `s.on('connect',()=>s.write('CONNECT ${target} HTTP/1.1\\r\\nHost: ${target}\\r\\n\\r\\n'));` +
          `s.on('data',(c)=>{t+=c;const m=/^HTTP\\/1\\.[01] (\\d{3})/.exec(t);if(m)done(m[1])});` +
          `s.on('close',()=>done('CLOSED'))`,
      );
    },
    setUplink: (level, up) => inside(level, ['ip', 'link', 'set', levels[level].uplink, up ? 'up' : 'down']),
    async remove() {
      // SIGTERM first, for a few seconds: Squid and Mosquitto then remove what they keep outside the
      // namespace (an unsandboxed Squid's /dev/shm segments, which would stop the next Squid started).
      for (let tries = 0; tries < 30 && pidsInside().length > 0; tries++) {
        for (const pid of pidsInside()) signal(pid, 'SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      removeNow();
      process.removeListener('exit', removeNow);
    },
  };
}
