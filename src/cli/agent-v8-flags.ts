/**
 * V8 settings for a long-running agent on a small device, set on this very
 * process (node cannot exec itself with other flags without a second
 * process). Imported first by `main.ts` and applied when it is evaluated,
 * before any other module of the CLI: V8 optimizes node's own module loader
 * while the CLI's modules load, and a tier limit set later keeps TurboFan's
 * code and zones in memory anyway (measured: 3.5 MB of the node
 * executable's code stays mapped). Only flags V8 reads at run time belong
 * here; see docs/benchmarks.md (agent-memory) for what each saves.
 *
 * - `--max-opt=1`: Ignition and Sparkplug, never TurboFan (nor its tier-up of
 *   WebAssembly). The agent waits on the network and processes; its own CPU
 *   time with 10 workloads did not measurably change.
 * - `--semi-space-growth-factor=1`: the young generation stays at 1 MB
 *   semi-spaces, as `--max-semi-space-size=1` on the command line would
 *   (that one cannot change once V8 runs).
 *
 * `OUTPOST_AGENT_V8_FLAGS` replaces them (empty: node's defaults).
 */
import { setFlagsFromString } from 'node:v8';

/** What `outpost agent` sets on itself unless `OUTPOST_AGENT_V8_FLAGS` says otherwise. */
export const AGENT_V8_FLAGS: readonly string[] = ['--max-opt=1', '--semi-space-growth-factor=1'];

/** The flags to apply given the environment: `OUTPOST_AGENT_V8_FLAGS` (space-separated) or {@link AGENT_V8_FLAGS}. */
export function agentV8Flags(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const override = env.OUTPOST_AGENT_V8_FLAGS;
  return override === undefined ? AGENT_V8_FLAGS : override.split(' ').filter((flag) => flag !== '');
}

/** Whether `argv` (without node and the script) runs `outpost agent`: the subcommand is the first word that is not an option, as `main` reads it. */
export function runsAgent(argv: readonly string[]): boolean {
  return argv.find((arg) => !arg.startsWith('-')) === 'agent';
}

if (runsAgent(process.argv.slice(2))) for (const flag of agentV8Flags()) setFlagsFromString(flag);
