/**
 * The CLI's connection to a hub's API for admin commands (`token`, `device`):
 * credentials from a kubeconfig, or from a hub's data dir
 * (`DIR/admin.kubeconfig`), and JSON requests whose refusals become one-line
 * CLI errors carrying the hub's Status message.
 */
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { CliError } from './errors.ts';
import { loadKubeconfig, resolveKubeconfigPath } from './kubeconfig.ts';

/** Where the credentials come from: `--kubeconfig`, `--data-dir`, or kubectl's defaults. */
export interface ConnectionFlags {
  readonly kubeconfig?: string;
  readonly dataDir?: string;
}

/** An open connection to the hub's API. */
export interface HubConnection {
  /**
   * Sends a request; returns the parsed JSON body of a 2xx answer.
   * @throws CliError with the hub's Status message for any other answer.
   */
  call<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<T>;
  close(): Promise<void>;
}

/** Opens a connection with the admin (or the given) kubeconfig. */
export async function connectToHub(flags: ConnectionFlags): Promise<HubConnection> {
  const path =
    flags.kubeconfig ?? (flags.dataDir ? join(flags.dataDir, 'admin.kubeconfig') : resolveKubeconfigPath());
  const config = await loadKubeconfig(path);
  const dispatcher = new Agent({
    connect: {
      ca: config.caCert,
      cert: config.clientCert,
      key: config.clientKey,
      rejectUnauthorized: config.insecureSkipTLSVerify !== true,
    },
  });
  const server = config.server.replace(/\/+$/, '');
  return {
    async call(method, path, body, contentType = 'application/json') {
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(`${server}${path}`, {
          method,
          dispatcher,
          headers: {
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': contentType }),
            ...(config.token ? { authorization: `Bearer ${config.token}` } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (cause) {
        throw new CliError(`cannot reach the hub at ${server}: ${(cause as Error).message}`);
      }
      const text = await response.body.text();
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not JSON: the status code speaks
      }
      if (response.statusCode >= 300) {
        const message = typeof parsed.message === 'string' ? parsed.message : `HTTP ${response.statusCode}`;
        throw new CliError(message);
      }
      return parsed as never;
    },
    close: () => dispatcher.close(),
  };
}
