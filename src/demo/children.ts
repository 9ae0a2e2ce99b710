import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

/**
 * Starts `outpost ARGS...` as a child in its own process group, so that a
 * Ctrl-C in the terminal reaches the demo alone and the demo stops its
 * children in order (the agent must stop its workloads before it goes).
 * The child's stderr goes to `logTo` (the demo's log file), never to the screen.
 */
export function startOutpost(name: string, args: readonly string[], logTo: number): DemoChild {
  const child = spawn(process.execPath, [OUTPOST_BIN, ...args], {
    stdio: ['ignore', 'pipe', logTo],
    detached: true,
  });
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
    waitFor(pattern, timeoutMs = 60_000) {
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
