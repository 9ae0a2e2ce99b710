import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import YAML from 'yaml';

/** An HTTPS client authenticated with the credentials of a kubeconfig (admin by default). */
export interface ApiClient {
  request(
    method: string,
    path: string,
    options?: { body?: unknown; contentType?: string; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON responses.
    json: () => any;
  }>;
  close(): Promise<void>;
}

/** Builds a keep-alive client from a kubeconfig file with embedded certificate data. */
export function apiClient(kubeconfigPath: string, options: { connections?: number } = {}): ApiClient {
  const config = YAML.parse(readFileSync(kubeconfigPath, 'utf8'));
  const cluster = config.clusters[0].cluster;
  const user = config.users[0].user;
  const decode = (data: string | undefined) =>
    data ? Buffer.from(data, 'base64').toString('utf8') : undefined;
  const dispatcher = new Agent({
    connect: {
      ca: decode(cluster['certificate-authority-data']),
      cert: decode(user['client-certificate-data']),
      key: decode(user['client-key-data']),
    },
    connections: options.connections ?? 16,
    pipelining: 1,
  });
  const server: string = cluster.server;
  return {
    async request(method, path, opts = {}) {
      const body =
        opts.body === undefined
          ? undefined
          : typeof opts.body === 'string'
            ? opts.body
            : JSON.stringify(opts.body);
      const response = await request(server + path, {
        method: method as 'GET',
        body,
        headers: { 'content-type': opts.contentType ?? 'application/json', ...opts.headers },
        dispatcher,
      });
      const text = await response.body.text();
      return { status: response.statusCode, headers: response.headers, text, json: () => JSON.parse(text) };
    },
    close: () => dispatcher.close(),
  };
}
