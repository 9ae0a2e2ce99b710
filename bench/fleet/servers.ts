/**
 * The processes of the fleet benchmark: the hub (`outpost hub`, restartable
 * on the same data dir and port), the baseline server, their resident
 * memory, and the file-descriptor limit every one of them needs.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OUTPOST_BIN, type StartedProcess, startProcess } from '../../test/support/index.ts';
import { hubArgs, hubEnv } from '../support/index.ts';

/** A server process and its origin. */
export interface ServerProcess extends StartedProcess {
  readonly origin: string;
  readonly port: number;
}

/** The open-files limit (soft) of this process. */
export function fdLimit(): number {
  const match = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

/**
 * Raises this process's open-files limit (soft and hard) to `wanted` with
 * `prlimit` (root may raise the hard limit; others get up to the hard
 * limit); children started afterwards inherit it. Returns the limit now in
 * force. Call it before serving anything: it runs `prlimit` synchronously.
 */
export function raiseFdLimit(wanted: number): number {
  if (fdLimit() >= wanted) return fdLimit();
  spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${wanted}:${wanted}`], { stdio: 'ignore' });
  if (fdLimit() < wanted) {
    // Not root: as far as the hard limit allows.
    const hard = /Max open files\s+\d+\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (hard) spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}`], { stdio: 'ignore' });
  }
  return fdLimit();
}

/** Resident memory of a process in bytes (`VmRSS`). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/**
 * Starts `outpost hub` on `dataDir`, on `port` (0: a free one); `profileFromStart` samples its
 * CPU from its first instruction when profiling was asked for (`BENCH_HUB_PROFILE`).
 */
export async function startHub(
  dataDir: string,
  port: number,
  options: { profileFromStart?: boolean } = {},
): Promise<ServerProcess> {
  const started = await startProcess({
    what: 'hub',
    readyMeans: 'listening',
    args: [OUTPOST_BIN, 'hub', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...hubArgs()],
    env: { ...hubEnv(), ...(options.profileFromStart ? { BENCH_HUB_PROFILE_AT_START: '1' } : {}) },
    ready: (stdout) => /hub listening on (https:\/\/\S+)/.exec(stdout)?.[1],
    stopGraceMs: 10_000,
  });
  return { ...started, origin: started.ready, port: Number(new URL(started.ready).port) };
}

/** Starts the baseline server (`bare-fleet-server.ts`) with the hub's certificates. */
export async function startBare(pkiDir: string, mailboxFile: string, port: number): Promise<ServerProcess> {
  const script = fileURLToPath(new URL('./bare-fleet-server.ts', import.meta.url));
  const started = await startProcess({
    what: 'bare fleet server',
    readyMeans: 'listening',
    args: ['--import', 'tsx', script, '--pki', pkiDir, '--mailbox', mailboxFile, '--port', String(port)],
    ready: (stdout) => /listening on (https:\/\/\S+)/.exec(stdout)?.[1],
  });
  return { ...started, origin: started.ready, port: Number(new URL(started.ready).port) };
}
