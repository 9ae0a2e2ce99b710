/**
 * The process runtime: each container of each replica runs its command as a
 * supervised host process in its own process group (volumes shown with
 * bubblewrap when installed), its output in a file and its pid and start
 * time in `state.json`, so that a new agent adopts what still runs. Units
 * (unit.ts) own their container processes (container.ts); /proc readings
 * (proc.ts), output files (logs.ts) and volume binds (binds.ts) are parts of
 * one job each; process-runtime.ts implements the `Runtime` over them.
 */
export type { RestartTiming } from './container.ts';
export { startTimeOf } from './proc.ts';
export { createProcessRuntime, type ProcessRuntimeOptions } from './process-runtime.ts';
