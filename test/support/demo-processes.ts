import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { ROOT } from './hub-process.ts';

/** A running demo (`npm start`, `outpost demo --nested`), started as a shell starts a job. */
export interface DemoRun {
  readonly child: ChildProcess;
  /** Its stdout and stderr so far, interleaved. */
  output(): string;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `command args...` in the checkout with OUTPOST_DEMO_DIR=`dir`, in its
 * own process group as a shell's job: the group is what Ctrl-C (see
 * {@link signalDemo}) and SIGKILL reach.
 */
export function startDemoRun(command: string, args: readonly string[], dir: string): DemoRun {
  const child = spawn(command, [...args], {
    cwd: ROOT,
    env: { ...process.env, OUTPOST_DEMO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Signals the run's whole process group, as the terminal does. */
export function signalDemo(run: DemoRun, signal: NodeJS.Signals): void {
  try {
    process.kill(-run.child.pid!, signal);
  } catch {
    // already gone
  }
}

/**
 * Live processes of a demo run in `dir` (as `pid command line`): any whose
 * command line or working directory names the folder, or whose environment
 * carries it as OUTPOST_DEMO_DIR (npm, the demo, its children and the
 * workloads its agents run there). The caller's own process is never one.
 */
export async function demoProcesses(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const [cmdline, cwd, environ] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      readlink(`/proc/${pid}/cwd`).catch(() => ''),
      readFile(`/proc/${pid}/environ`, 'utf8').catch(() => ''),
    ]);
    if (
      cmdline.includes(dir) ||
      cwd === dir ||
      cwd.startsWith(`${dir}/`) ||
      environ.split('\0').includes(`OUTPOST_DEMO_DIR=${dir}`)
    )
      found.push(`${pid} ${cmdline.replaceAll('\0', ' ').slice(0, 200)}`);
  }
  return found;
}
