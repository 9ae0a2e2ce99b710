import { readFileSync } from 'node:fs';

/**
 * The start time of `pid` (field 22 of /proc/PID/stat, clock ticks since
 * boot); undefined when it is gone or a zombie. A pid can be reused, its
 * start time cannot repeat within one boot: a recorded pid and start time
 * name one process for good.
 */
export function startTimeOf(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}
