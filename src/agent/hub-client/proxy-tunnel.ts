/**
 * The proxy the agent must use for the hub (`HTTPS_PROXY` / `NO_PROXY`, read
 * at call time) and a CONNECT tunnel through it, over which the agent speaks
 * TLS end to end with the hub.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { hubProxy } from './hub-proxy.ts';

/**
 * The proxy to reach `target` through: the parent's proxy set for the hub
 * (hub-proxy.ts), whatever the environment says; else `HTTPS_PROXY` (or `https_proxy`),
 * unless `NO_PROXY` (or `no_proxy`) names its host: `*` (no proxy at all), a
 * host name (matching it and its subdomains; a leading `.` or `*.` is the
 * same) or an IP address (IPv6 bare or in brackets), optionally with `:port`
 * (the target's port, by default 443 for `https:`/`wss:`, else 80). Both the
 * hub client and the telemetry uplink (`wss:`) choose their route with it.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): string | undefined {
  const parent = hubProxy();
  if (parent) return parent;
  const proxy = env.HTTPS_PROXY ?? env.https_proxy;
  if (!proxy) return undefined;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = target.port || (target.protocol === 'wss:' || target.protocol === 'https:' ? '443' : '80');
  for (const raw of (env.NO_PROXY ?? env.no_proxy ?? '').split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return undefined;
    const { name, port: entryPort } = noProxyEntry(entry);
    if (entryPort && entryPort !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return undefined;
  }
  return proxy;
}

/** A `NO_PROXY` entry's host (without a leading `.` or `*.`) and port, if it names one. */
function noProxyEntry(entry: string): { name: string; port?: string } {
  if (isIP(entry) === 6) return { name: entry }; // a bare IPv6 address: its colons are no port
  const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1]!, ...(bracketed[2] ? { port: bracketed[2] } : {}) };
  const match = /^(.*?)(?::(\d+))?$/.exec(entry);
  return { name: (match?.[1] ?? entry).replace(/^\*?\./, ''), ...(match?.[2] ? { port: match[2] } : {}) };
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
