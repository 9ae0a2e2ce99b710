import { type ChildProcess, spawn } from 'node:child_process';
import { nsenterArgs } from './netns.ts';

/** A long-running `node` process a test started (the hub, an agent). */
export interface StartedProcess {
  readonly process: ChildProcess;
  /** What the process wrote to stderr so far (its logs). */
  stderr(): string;
  /** Sends `signal` (SIGTERM by default), then SIGKILL after the grace period, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartProcessOptions<T> {
  /** What it is, for error messages ("hub", "agent"). */
  readonly what: string;
  /** What `ready` waits for, for the error message of an early exit ("listening", "running"). */
  readonly readyMeans: string;
  /** Arguments of `node` (the script first). */
  readonly args: readonly string[];
  /** Added to the test's own environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Reads stdout so far; a value other than undefined means the process is ready. */
  readonly ready: (stdout: string) => T | undefined;
  /** How long `stop` waits before SIGKILL. @default 5000 */
  readonly stopGraceMs?: number;
  /** The network namespace to run it in (entered as netns.ts says: the child is node itself). */
  readonly netns?: string;
  /** How long to wait for `ready`. @default 60_000 */
  readonly readyTimeoutMs?: number;
}

/**
 * Starts `node args...` and waits until `ready` finds its line in stdout.
 * Generous (60 s): on a loaded machine a start takes a while. On timeout the
 * process is killed, else it would keep the test file alive until its own
 * timeout; an exit before ready fails with the process's stderr.
 */
export async function startProcess<T>(
  options: StartProcessOptions<T>,
): Promise<StartedProcess & { readonly ready: T }> {
  const [command, args] = options.netns
    ? ['nsenter', [...nsenterArgs(options.netns), process.execPath, ...options.args]]
    : [process.execPath, [...options.args]];
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.what} did not start in ${readyTimeoutMs / 1000} s: ${stderr}`));
    }, readyTimeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const value = options.ready(stdout);
      if (value !== undefined) {
        clearTimeout(timer);
        resolve(value);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${options.what} exited with ${code} before ${options.readyMeans}: ${stderr}`));
    });
  });
  return {
    ready,
    process: child,
    stderr: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), options.stopGraceMs ?? 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Waits for every one of `starts` (each assigning what it started), then
 * throws the first failure: a process started in parallel with one that
 * failed is assigned, so the test's cleanup stops it (with `Promise.all` it
 * would be left running, keeping the test file alive).
 */
export async function settleAll(starts: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(starts);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Stops a child process (SIGTERM) unless it has exited, and waits for its exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}
