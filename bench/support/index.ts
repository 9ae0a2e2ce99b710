/**
 * Shared parts of the hub's benchmarks: statistics and tables, CPU time of
 * processes, an HTTPS load driver, the bare baseline server and the objects
 * written. (`bench/populate.ts`, which loads the whole hub, stays outside.)
 */
import { fileURLToPath } from 'node:url';

export * from './http-load.ts';
export * from './objects.ts';
export * from './proc.ts';
export * from './stats.ts';

/**
 * The measuring time of one round, in milliseconds: `BENCH_SECONDS` from the
 * environment when set (shorter smoke runs, longer careful ones), else `seconds`.
 */
export function roundMs(seconds: number): number {
  const override = Number(process.env.BENCH_SECONDS);
  return (Number.isFinite(override) && override > 0 ? override : seconds) * 1000;
}

/**
 * Extra `outpost hub` arguments from `BENCH_HUB_ARGS` (space-separated), to
 * compare settings such as `--sqlite-synchronous NORMAL`; none by default.
 */
export function hubArgs(): string[] {
  return (process.env.BENCH_HUB_ARGS ?? '').split(' ').filter((arg) => arg !== '');
}

/**
 * Environment for the hub process: with `BENCH_HUB_PROFILE=DIR` the hub
 * preloads a sampling profiler that {@link startProfiling} starts and that
 * writes DIR/hub-PID.cpuprofile when the hub exits (read it with
 * `node --import tsx bench/profile-summary.ts FILE`).
 */
export function hubEnv(): NodeJS.ProcessEnv {
  const dir = process.env.BENCH_HUB_PROFILE;
  // `--cpu-prof` is refused in NODE_OPTIONS; a preloaded inspector session does the same.
  const profiler = fileURLToPath(new URL('./cpu-profiler.mjs', import.meta.url));
  return dir ? { NODE_OPTIONS: `--import=${profiler}`, BENCH_HUB_PROFILE: dir } : {};
}

/** Starts the hub's profiler (see {@link hubEnv}) when profiling was asked for; call it after warm-up. */
export function startProfiling(hub: { readonly process: { kill(signal: NodeJS.Signals): boolean } }): void {
  if (process.env.BENCH_HUB_PROFILE) hub.process.kill('SIGUSR2');
}
