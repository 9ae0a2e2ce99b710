/**
 * What one run of the demo leaves for the next to clean up. Children die
 * with the demo (they watch a pipe from it, see `children.ts`), but a child
 * that hangs, an agent killed before it stopped its workloads, or a run
 * killed while a child was starting can still leave processes behind: each
 * run records its children (pid and start time, so that a reused pid is
 * never mistaken for one), and the next run stops those still alive, then
 * the workloads still running in the demo agent's folders.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startTimeOf } from '../util/index.ts';

export { startTimeOf };

/** A child of a run, as recorded in `DIR/children.json`. */
export interface ChildRecord {
  readonly name: string;
  readonly pid: number;
  /** Field 22 of `/proc/PID/stat`: with the pid, names one process for the machine's uptime. */
  readonly startTime: string;
}

const RECORD_FILE = 'children.json';

/** What `DIR/children.json` holds: the run itself and its children. */
interface RunRecord {
  readonly demo: ChildRecord;
  readonly children: readonly ChildRecord[];
}

/**
 * Writes this run and its children to `dir/children.json`, synchronously:
 * the record must be on disk before anything could kill the demo.
 */
export function recordChildren(dir: string, children: readonly ChildRecord[]): void {
  const demo = { name: 'demo', pid: process.pid, startTime: startTimeOf(process.pid) ?? '' };
  writeFileSync(join(dir, RECORD_FILE), JSON.stringify({ demo, children } satisfies RunRecord), {
    mode: 0o600,
  });
}

/** Records `children` (processes started, see children.ts) as {@link recordChildren} does. */
export function recordStarted(
  dir: string,
  children: readonly { name: string; process: { pid?: number } }[],
): void {
  recordChildren(
    dir,
    children.map((child) => ({
      name: child.name,
      pid: child.process.pid!,
      startTime: startTimeOf(child.process.pid!) ?? '',
    })),
  );
}

/**
 * Stops what earlier runs of the demo in `dir` left running: the recorded
 * children still alive (SIGTERM to their process group, which lets the
 * agent stop its workloads; SIGKILL after `graceMs`), then any process still
 * working in the agent's unit folders. Returns how many processes it stopped.
 * @throws Error when the run that wrote the record still runs (a second
 * `npm start` in the same checkout), stopping nothing.
 */
export async function stopLeftovers(dir: string, graceMs = 10_000): Promise<number> {
  let record: RunRecord | undefined;
  try {
    record = JSON.parse(readFileSync(join(dir, RECORD_FILE), 'utf8')) as RunRecord;
  } catch {
    // no record: a first run, or one that never started a child
  }
  const isAlive = (child: ChildRecord) => startTimeOf(child.pid) === child.startTime;
  // Two runs on one folder cannot both work (one agent data dir): the running one is not a leftover.
  if (record?.demo && record.demo.pid !== process.pid && isAlive(record.demo))
    throw new Error(
      `another npm start (pid ${record.demo.pid}) runs with ${dir}: stop it first (Ctrl-C in its terminal)`,
    );
  const alive = (record?.children ?? []).filter(isAlive);
  // The agent first: it stops its workloads on SIGTERM, and they must not be adopted by nobody.
  alive.sort((a, b) => Number(b.name === 'agent') - Number(a.name === 'agent'));
  for (const child of alive) await stopGroup(child, graceMs);
  const workloads = await processesUnder(join(dir, 'agent', 'process', 'units'));
  for (const pid of workloads) {
    const startTime = startTimeOf(pid);
    if (startTime !== undefined) await stopGroup({ name: 'workload', pid, startTime }, 2000);
  }
  await rm(join(dir, RECORD_FILE), { force: true });
  return alive.length + workloads.length;
}

/** SIGTERM to the process group `child` leads, SIGKILL after `graceMs`; resolves once `child` is gone. */
async function stopGroup(child: ChildRecord, graceMs: number): Promise<void> {
  const gone = () => startTimeOf(child.pid) !== child.startTime;
  signal(child.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (!gone() && Date.now() < deadline) await sleep(50);
  if (gone()) return;
  signal(child.pid, 'SIGKILL');
  while (!gone()) await sleep(20);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    // The group (the demo starts each child as a group leader), else the process alone.
    process.kill(-pid, name);
  } catch {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}

/** Pids of processes whose working directory is inside `dir` (the agent's workloads run there). */
async function processesUnder(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cwd === dir || cwd.startsWith(`${dir}/`)) found.push(pid);
  }
  return found;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
