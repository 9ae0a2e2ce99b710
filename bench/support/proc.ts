import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`, 100 when unknown). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * CPU seconds (user + system) a process has used so far, from
 * `/proc/PID/stat` (fields 14 and 15); its threads (libuv's pool, V8's
 * compiler and GC threads) included. Resolution is one clock tick (10 ms).
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** Measures the CPU seconds a process uses between `start()` and `stop()`. */
export function cpuMeter(pid: number): { stop(): number } {
  const before = cpuSeconds(pid);
  return { stop: () => cpuSeconds(pid) - before };
}

/** CPU seconds (user + system) this process has used so far. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * How busy the machine is, for the reader of a result: the 1-minute load
 * average over the number of CPUs, and the share of the last 10 s in which
 * some runnable task waited for a CPU (`/proc/pressure/cpu`, when the kernel
 * has it). Figures taken when either is high are not comparable with quiet runs.
 */
export function machineLoad(): string {
  const [load1] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  const cpus = availableParallelism();
  let pressure = '';
  try {
    const match = /some avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (match) pressure = `, CPU pressure ${match[1]}% (some, last 10 s)`;
  } catch {
    // Kernels without PSI: the load average alone.
  }
  return `machine: load ${load1} on ${cpus} CPUs${pressure}`;
}
