/** `outpost agent` as a process, for end-to-end tests. */
import { createToken } from './enrollment.ts';
import { type HubProcess, OUTPOST_BIN } from './hub-process.ts';
import { type StartedProcess, startProcess } from './process.ts';

/**
 * An `outpost agent` process; `stop` sends SIGTERM (by default), then SIGKILL after 10 s, or
 * after 120 s for an agent that stops its workloads on exit.
 */
export interface AgentProcess extends StartedProcess {
  readonly dataDir: string;
}

/** Starts `outpost agent` and waits for its `agent NAME running` line. */
export async function startAgent(options: {
  hubUrl: string;
  token?: string;
  dataDir: string;
  name: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** The network namespace to run it in (see levels.ts). */
  netns?: string;
}): Promise<AgentProcess> {
  const args = [
    OUTPOST_BIN,
    'agent',
    '--hub',
    options.hubUrl,
    '--data-dir',
    options.dataDir,
    '--name',
    options.name,
  ];
  if (options.token) args.push('--token', options.token);
  args.push('--restart-backoff', '200', ...(options.args ?? []));
  // An agent that stops its workloads on exit removes every pod before it ends: on a loaded machine
  // that takes podman more than 10 s for a handful of pods, and a SIGKILL meanwhile left the rest
  // running (agent-probes leaked its last container, probes-podman-unlive, that way).
  const stopsWorkloads = args.includes('--stop-workloads-on-exit');
  const started = await startProcess({
    what: 'agent',
    readyMeans: 'running',
    args,
    env: options.env,
    ...(options.netns ? { netns: options.netns } : {}),
    ready: (stdout) => (stdout.includes(`agent ${options.name} running`) ? true : undefined),
    stopGraceMs: stopsWorkloads ? 120_000 : 10_000,
  });
  return { dataDir: options.dataDir, process: started.process, stderr: started.stderr, stop: started.stop };
}

/**
 * Enrolls and starts `outpost agent` named `name` with device labels `labels`
 * (`k=v,...`), stopping its workloads when it stops (so a test leaves none).
 */
export async function startLabelledAgent(
  hub: HubProcess,
  options: { name: string; labels: string; dataDir: string; hubUrl?: string; args?: readonly string[] },
): Promise<AgentProcess> {
  const token = await createToken(hub, ['--labels', options.labels]);
  return startAgent({
    hubUrl: options.hubUrl ?? hub.url,
    token,
    dataDir: options.dataDir,
    name: options.name,
    args: ['--stop-workloads-on-exit', ...(options.args ?? [])],
  });
}
