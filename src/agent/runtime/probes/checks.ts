/**
 * One try of a probe's action. httpGet and tcpSocket are made by the agent
 * itself against the address the runtime gives (127.0.0.1 for the process
 * runtime and host-network pods, the pod's address otherwise); exec runs
 * through the runtime, inside the container's own confinement.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { ProbeAction } from './spec.ts';

/** What an exec probe's command did. */
export interface ExecResult {
  /** Exit code; null when it was killed (its timeout). */
  readonly code: number | null;
  /** Its output (stdout and stderr), possibly cut short. */
  readonly output: string;
}

/** How a runtime lets probes reach one container. */
export interface ProbeTarget {
  /** Runs `command` inside the container (same user, same view of files); killed after `timeoutMs`. */
  exec(command: readonly string[], timeoutMs: number): Promise<ExecResult>;
  /** The address httpGet and tcpSocket probes without a `host` go to. */
  address(): Promise<string>;
}

/** One probe try: undefined when it passed, else why it failed (Kubernetes' wording where it has one). */
export async function check(
  action: ProbeAction,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<string | undefined> {
  if (action.kind === 'exec') {
    const result = await target.exec(action.command, timeoutMs);
    if (result.code === 0) return undefined;
    const output = result.output.trim().slice(0, 200);
    const how =
      result.code === null ? `timed out after ${timeoutMs / 1000}s` : `exited with code ${result.code}`;
    return `command ${JSON.stringify(action.command)} ${how}${output ? `: ${output}` : ''}`;
  }
  const host = action.host ?? (await target.address());
  if (action.kind === 'tcpSocket') return tcpCheck(host, action.port, timeoutMs);
  return httpCheck(host, action, timeoutMs);
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (result: string | undefined) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => done(undefined));
    socket.once('timeout', () => done(`dial tcp ${host}:${port}: i/o timeout`));
    socket.once('error', (error) => done(`dial tcp ${host}:${port}: ${error.message}`));
  });
}

function httpCheck(
  host: string,
  action: Extract<ProbeAction, { kind: 'httpGet' }>,
  timeoutMs: number,
): Promise<string | undefined> {
  const url = `${action.https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${action.port}${action.path.startsWith('/') ? '' : '/'}${action.path}`;
  return new Promise((resolve) => {
    const request = (action.https ? httpsRequest : httpRequest)(
      url,
      {
        method: 'GET',
        timeout: timeoutMs,
        // As the kubelet: certificates are not verified.
        ...(action.https ? { rejectUnauthorized: false } : {}),
        headers: { 'user-agent': 'outpost-probe', ...action.headers },
      },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        resolve(status >= 200 && status < 400 ? undefined : `HTTP probe failed with statuscode: ${status}`);
      },
    );
    request.once('timeout', () => {
      request.destroy();
      resolve(`Get "${url}": context deadline exceeded`);
    });
    request.once('error', (error) => resolve(`Get "${url}": ${error.message}`));
    request.end();
  });
}
