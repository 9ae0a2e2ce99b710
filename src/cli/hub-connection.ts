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

/** What requests to the hub need: its URL, a TLS dispatcher with the client's credentials, auth headers. */
export interface HubTransport {
  readonly server: string;
  readonly dispatcher: Agent;
  /** `authorization` when the kubeconfig carries a bearer token; empty otherwise. */
  readonly headers: Record<string, string>;
}

/** Reads the kubeconfig the flags name (the admin one of `--data-dir`, or kubectl's) and opens a dispatcher. */
export async function openHubTransport(flags: ConnectionFlags): Promise<HubTransport> {
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
  return {
    server: config.server.replace(/\/+$/, ''),
    dispatcher,
    headers: config.token ? { authorization: `Bearer ${config.token}` } : {},
  };
}

/** Opens a connection with the admin (or the given) kubeconfig. */
export async function connectToHub(flags: ConnectionFlags): Promise<HubConnection> {
  const { server, dispatcher, headers } = await openHubTransport(flags);
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
            ...headers,
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

/** The hub's Status message, or the HTTP code when the answer is not a Status. */
export async function statusMessage(response: Awaited<ReturnType<typeof request>>): Promise<string> {
  const text = await response.body.text().catch(() => '');
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // not JSON: the code speaks
  }
  return `the hub answered HTTP ${response.statusCode}`;
}
