/** `outpost agent` as a process, for end-to-end tests. */
import { OUTPOST_BIN } from './hub-process.ts';
import { type StartedProcess, startProcess } from './process.ts';

/** An `outpost agent` process; `stop` sends SIGTERM (by default), then SIGKILL after 10 s. */
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
  const started = await startProcess({
    what: 'agent',
    readyMeans: 'running',
    args,
    env: options.env,
    ready: (stdout) => (stdout.includes(`agent ${options.name} running`) ? true : undefined),
    stopGraceMs: 10_000,
  });
  return { dataDir: options.dataDir, process: started.process, stderr: started.stderr, stop: started.stop };
}
