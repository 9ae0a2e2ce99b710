import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type StartedProcess, startProcess } from './process.ts';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/**
 * The `outpost` executable as a user runs it: the sources through tsx, or — when the test
 * runner compiled them first (`OUTPOST_TEST_BIN`, set by `scripts/run-tests.mjs`) — the
 * compiled CLI, which starts in a fraction of the time (tsx's loader hooks cost seconds
 * per process on the hundreds of modules the hub loads).
 */
export const OUTPOST_BIN = process.env.OUTPOST_TEST_BIN ?? join(ROOT, 'bin', 'outpost.js');

/** An `outpost hub` process; `stop` sends SIGTERM (by default), then SIGKILL after 5 s. */
export interface HubProcess extends StartedProcess {
  readonly url: string;
  readonly dataDir: string;
  readonly kubeconfig: string;
  /** `mqtts://HOST:PORT` of the hub's MQTT-over-TLS listener, when started with `--mqtt-tls-port`. */
  readonly mqttTlsUrl?: string;
}

export interface StartHubOptions {
  /** Reuse a data dir (restart); a fresh temp dir otherwise. */
  readonly dataDir?: string;
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The `outpost` script to run (a benchmark's own build). @default OUTPOST_BIN */
  readonly bin?: string;
}

/** Makes a temp dir that `cleanup` removes. */
export async function tempDir(prefix = 'outpost-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Starts `outpost hub` as a process on a free port and waits for its `hub listening on` line. */
export async function startHubProcess(options: StartHubOptions = {}): Promise<HubProcess> {
  const dataDir = options.dataDir ?? (await tempDir());
  let mqttTlsUrl: string | undefined;
  const started = await startProcess({
    what: 'hub',
    readyMeans: 'listening',
    args: [
      options.bin ?? OUTPOST_BIN,
      'hub',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      ...(options.args ?? []),
    ],
    env: options.env,
    ready: (stdout) => {
      // Printed with the URL, in the same write.
      mqttTlsUrl = /hub MQTT over TLS on (mqtts:\/\/\S+)/.exec(stdout)?.[1];
      return /hub listening on (https:\/\/\S+)/.exec(stdout)?.[1];
    },
  });
  return {
    url: started.ready,
    ...(mqttTlsUrl === undefined ? {} : { mqttTlsUrl }),
    dataDir,
    kubeconfig: join(dataDir, 'admin.kubeconfig'),
    process: started.process,
    stderr: started.stderr,
    stop: started.stop,
  };
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command asynchronously (never blocking the event loop) and returns its output, whatever its exit code. */
export function run(
  command: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      [...args],
      {
        timeout: options.timeoutMs ?? 60_000,
        env: { ...process.env, ...options.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Runs the real kubectl against a hub. */
export function kubectl(
  hub: Pick<HubProcess, 'kubeconfig'>,
  args: readonly string[],
  input?: string,
): Promise<CommandResult> {
  return run('kubectl', ['--kubeconfig', hub.kubeconfig, ...args], { input });
}
