import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { startTimeOf } from '../../../util/index.ts';

/**
 * What the process runtime reads from /proc: whether a recorded pid is still
 * the process it started (a pid can be reused; its start time, in clock ticks
 * since boot, cannot repeat within one boot), and which boot this is.
 */

// Defined in src/util: the data-dir lock of the hub and the agent reads it too.
export { startTimeOf };

/** Whether `pid` is still the process that started at `startTime`. */
export function isSameProcess(pid: number, startTime: string): boolean {
  return startTimeOf(pid) === startTime;
}

/** The resident memory of `pid` in bytes (0 when unknown). */
export function residentBytesOf(pid: number): number {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(statm[1] ?? 0) * 4096;
  } catch {
    return 0;
  }
}

let bootId: string | undefined;

/** This boot's id; processes recorded under another boot id are gone for sure. */
export function currentBootId(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = 'unknown';
    }
  }
  return bootId;
}

/** Sends `signal` to a process group, ignoring a group that is already gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Whether any process of a group still runs. Zombies do not count: they hold
 * no mount namespace any more, and where pid 1 of the host reaps orphans
 * late (as in some VMs' init) they would keep a stopped group "alive".
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  return liveMembersOf(pgid).size > 0;
}

/**
 * A process of group `pgid` inside the container's own namespaces (bubblewrap
 * made them: another mount namespace than the agent's), preferring the
 * container's command over bubblewrap's pid-1 reaper; undefined when none runs.
 * A probe is run there, so that it sees what the container sees.
 */
export function sandboxedPidOf(pgid: number): number | undefined {
  const own = namespaceOf('self');
  const inside = new Map<number, number>(); // pid -> ppid
  for (const [pid, ppid] of liveMembersOf(pgid)) {
    const ns = namespaceOf(String(pid));
    if (ns !== undefined && ns !== own) inside.set(pid, ppid);
  }
  for (const [pid, ppid] of inside) if (inside.has(ppid)) return pid;
  return inside.keys().next().value;
}

/** The processes of group `pgid` that are not zombies, pid to parent pid. */
function liveMembersOf(pgid: number): Map<number, number> {
  const members = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the command in parentheses: state, ppid, pgrp.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.set(Number(entry), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

function namespaceOf(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/**
 * Which of `paths` are a mount point in some mount namespace of the host
 * (each namespace's /proc/PID/mountinfo read once): a folder another
 * agent's container has a volume bound on. Removing such a folder would
 * detach that volume from the running container (Linux detaches mounts in
 * other namespaces when their mount point is removed).
 */
export function mountedAnywhere(paths: readonly string[]): Set<string> {
  const wanted = new Set(paths);
  const found = new Set<string>();
  const seen = new Set<string>();
  if (wanted.size === 0) return found;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ns = namespaceOf(entry);
    if (ns === undefined || seen.has(ns)) continue;
    seen.add(ns);
    let info: string;
    try {
      info = readFileSync(`/proc/${entry}/mountinfo`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    for (const line of info.split('\n')) {
      // Field 5 is the mount point, octal-escaped (\040 for a space).
      const point = line
        .split(' ')[4]
        ?.replace(/\\([0-7]{3})/g, (_m, code: string) => String.fromCharCode(Number.parseInt(code, 8)));
      if (point !== undefined && wanted.has(point)) found.add(point);
    }
  }
  return found;
}
