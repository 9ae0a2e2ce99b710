import { readFileSync } from 'node:fs';
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

/** Whether any process of a group is alive (zombies excluded only for the leader). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
