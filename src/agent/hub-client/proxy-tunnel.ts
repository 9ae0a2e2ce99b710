/**
 * The proxy the agent must use for the hub (`HTTPS_PROXY` / `NO_PROXY`, read
 * at call time) and a CONNECT tunnel through it, over which the agent speaks
 * TLS end to end with the hub.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';

/**
 * The proxy for `url` from `HTTPS_PROXY` (or `https_proxy`), unless `NO_PROXY`
 * (or `no_proxy`) names its host: `*`, a host name (matching it and its
 * subdomains; a leading `.` or `*.` is the same), optionally with `:port`.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv): string | undefined {
  const proxy = env.HTTPS_PROXY ?? env.https_proxy;
  if (!proxy) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || '443';
  for (const raw of (env.NO_PROXY ?? env.no_proxy ?? '').split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return undefined;
    const match = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[(.*)\]/, '$1'));
    const name = (match?.[1] ?? '').replace(/^\*?\./, '');
    if (match?.[2] && match[2] !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return undefined;
  }
  return proxy;
}

/**
 * Opens a CONNECT tunnel through `proxy` (an `http:` or `https:` URL, with
 * optional `user:password@` for Basic auth) to `target`'s host and port.
 * Resolves with the raw socket once the proxy answered 2xx.
 * @throws Error when the proxy is unreachable or refuses the tunnel, or `signal` aborts.
 */
export function openTunnel(proxy: string, target: URL, signal?: AbortSignal): Promise<Socket> {
  const proxyUrl = new URL(proxy);
  const authority = `${target.hostname}:${target.port || '443'}`;
  const headers: Record<string, string> = { host: authority };
  if (proxyUrl.username)
    headers['proxy-authorization'] =
      `Basic ${Buffer.from(`${decodeURIComponent(proxyUrl.username)}:${decodeURIComponent(proxyUrl.password)}`).toString('base64')}`;
  const send = proxyUrl.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send({
      host: proxyUrl.hostname.replace(/^\[|\]$/g, ''),
      port: proxyUrl.port || (proxyUrl.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: authority,
      headers,
      agent: false,
      ...(signal ? { signal } : {}),
    });
    request.once('connect', (response, socket, head) => {
      if (signal?.aborted) {
        socket.destroy();
        reject(signal.reason);
        return;
      }
      const status = response.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        socket.destroy();
        reject(new Error(`the proxy ${proxyUrl.host} refused the tunnel to ${authority}: HTTP ${status}`));
        return;
      }
      // Bytes the proxy sent past its answer belong to the tunnel (the hub never speaks first in TLS).
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    request.once('response', (response) => {
      response.resume();
      reject(new Error(`the proxy ${proxyUrl.host} answered CONNECT with HTTP ${response.statusCode}`));
    });
    request.once('error', (error) =>
      reject(new Error(`cannot reach the proxy ${proxyUrl.host}: ${error.message}`, { cause: error })),
    );
    request.end();
  });
}
