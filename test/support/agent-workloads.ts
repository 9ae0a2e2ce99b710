/**
 * The workload processes an agent's process runtime supervises, as a test
 * sees them: what the runtime recorded in its data dir, and what really runs
 * (/proc).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One supervised container process as recorded in the agent's data dir. */
export interface WorkloadProcess {
  readonly unit: string;
  readonly replica: string;
  readonly container: string;
  readonly pid: number;
  readonly logPath: string;
}

/** Every container process the process runtime recorded under `dataDir`. */
export function recordedProcesses(dataDir: string): WorkloadProcess[] {
  const found: WorkloadProcess[] = [];
  const unitsDir = join(dataDir, 'process', 'units');
  for (const unit of list(unitsDir)) {
    for (const replica of list(join(unitsDir, unit, 'replicas'))) {
      for (const container of list(join(unitsDir, unit, 'replicas', replica))) {
        const dir = join(unitsDir, unit, 'replicas', replica, container);
        try {
          const { pid } = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { pid: number };
          found.push({ unit, replica, container, pid, logPath: join(dir, 'output.log') });
        } catch {
          // not a container folder (work/, empty/) or not started
        }
      }
    }
  }
  return found;
}

/** Process groups on the machine whose environment names `unit` (OUTPOST_UNIT): what really runs. */
export function liveGroupsOf(unit: string): Set<number> {
  const groups = new Set<number>();
  for (const entry of list('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (!environ.split('\0').includes(`OUTPOST_UNIT=${unit}`)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      groups.add(Number(fields[2]));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return groups;
}

/** Whether `pid` runs (zombies count as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** Kills every workload process group recorded under `dataDir` (test cleanup). */
export function killWorkloads(dataDir: string): void {
  for (const { pid } of recordedProcesses(dataDir)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
