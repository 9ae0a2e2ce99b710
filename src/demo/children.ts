import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EXIT_WITH_PARENT_ENV } from '../cli/parent-watch.ts';
import { nsenterArgs } from '../util/index.ts';

/** The `outpost` CLI of this checkout, run with the same node. */
const OUTPOST_BIN = fileURLToPath(new URL('../../bin/outpost.js', import.meta.url));

/** A child `outpost` process of the demo. */
export interface DemoChild {
  readonly name: string;
  readonly process: ChildProcess;
  /** Resolves with the first stdout line that matches, rejects when the child exits before. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link startOutpost}. */
export interface StartOutpostOptions {
  /** The child's working directory: the demo's folder, so that it is found there (see `leftovers.ts`). */
  readonly cwd: string;
  /** The demo's log file: the child's stderr goes there, never to the screen. */
  readonly logFd: number;
  /** Variables added to the demo's own environment (secrets go here, not into the process list). */
  readonly env?: Readonly<Record<string, string>>;
  /** A network namespace to run it in (`outpost demo --nested`: one per level). @default the demo's */
  readonly netns?: string;
}

/**
 * Starts `outpost ARGS...` as a child in its own process group, so that a
 * Ctrl-C in the terminal reaches the demo alone and the demo stops its
 * children in order (the agent must stop its workloads before it goes).
 * Its stdin is a pipe the demo holds and never writes to: when the demo
 * ends in any way, even SIGKILL, the child sees the pipe close and stops
 * (`OUTPOST_EXIT_WITH_PARENT`, see `src/cli/parent-watch.ts`).
 */
export function startOutpost(name: string, args: readonly string[], options: StartOutpostOptions): DemoChild {
  return startChild(name, process.execPath, [OUTPOST_BIN, ...args], options);
}

/**
 * Starts `command ARGS...` as {@link startOutpost} does (a program that does
 * not watch its stdin, such as Mosquitto, outlives a killed demo: the next
 * run stops it, see `leftovers.ts`). In a namespace it is started through
 * nsenter, which execs it: the child's pid is the command's.
 */
export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  options: StartOutpostOptions,
): DemoChild {
  const [file, argv] = options.netns
    ? ['nsenter', [...nsenterArgs(options.netns), command, ...args]]
    : [command, [...args]];
  const child = spawn(file, argv, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, [EXIT_WITH_PARENT_ENV]: '1' },
    stdio: ['pipe', 'pipe', options.logFd],
    detached: true,
  });
  // Never written to; an error on it (the child already gone) is no news.
  child.stdin?.on('error', () => {});
  let out = '';
  const lineWaiters = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
    for (const check of lineWaiters) check();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return {
    name,
    process: child,
    waitFor(pattern, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => fail(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        const done = () => {
          clearTimeout(timer);
          lineWaiters.delete(check);
          child.off('exit', onExit);
        };
        const fail = (error: Error) => {
          done();
          reject(error);
        };
        const check = () => {
          const match = out.match(pattern);
          if (match) {
            done();
            resolve(match);
          }
        };
        const onExit = (code: number | null) =>
          fail(new Error(`${name} exited (code ${code}) before it was ready`));
        lineWaiters.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup(child, 'SIGTERM');
      const killer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // The whole group: the child and whatever it started that did not leave the group.
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Calls `failed` when the child exits unless the demo is stopping (`stopping()`): a child must not die alone. */
export function failWhenItExits(
  child: DemoChild,
  stopping: () => boolean,
  failed: (error: Error) => void,
): void {
  child.process.once('exit', (code, signal) => {
    if (!stopping())
      failed(new Error(`${child.name} stopped unexpectedly (${signal ?? `exit code ${code}`})`));
  });
}
