/**
 * The dashboard's local proxy, as `kubectl proxy`: a plain HTTP server on loopback that forwards
 * every request to the hub over HTTPS with the kubeconfig's credentials (client certificate or
 * bearer token), so a browser on this machine sees the dashboard (`/ui/`) and the API on one
 * origin without holding any credential itself. Responses are streamed, so watches stay open.
 *
 * Loopback is not a boundary against web pages the same browser shows: a page from elsewhere
 * could send requests to the proxy (CSRF) or reach it through a DNS name it controls (DNS
 * rebinding). As kubectl's `--accept-hosts`, only loopback Host headers are served, and a request
 * a browser marks as coming from another origin (`Origin`, `Sec-Fetch-Site`) is refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ClientConfig } from './kubeconfig.ts';

/** Options of {@link startDashboardProxy}. */
export interface DashboardProxyOptions {
  /** The hub and the credentials to reach it with (a loaded kubeconfig). */
  readonly hub: ClientConfig;
  /** The port on 127.0.0.1. @default 0 (any free port) */
  readonly port?: number;
}

/** A running proxy. */
export interface DashboardProxy {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** The dashboard's address: `ORIGIN/ui/`. */
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;
/** Hop-by-hop headers (RFC 9110, 7.6.1) are the connection's, not the message's. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
]);

/** Starts the proxy on 127.0.0.1 (resolves once it listens). */
export async function startDashboardProxy(options: DashboardProxyOptions): Promise<DashboardProxy> {
  const hub = new URL(options.hub.server);
  const agent = new Agent({
    keepAlive: true,
    ca: options.hub.caCert,
    cert: options.hub.clientCert,
    key: options.hub.clientKey,
    rejectUnauthorized: options.hub.insecureSkipTLSVerify !== true,
  });
  const basePath = hub.pathname.replace(/\/+$/, '');
  let origin = '';
  const server: Server = createServer((request, response) => {
    const refusal = refuse(request, origin);
    if (refusal) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end(`${refusal}\n`);
      return;
    }
    if (request.url === '/' || request.url === '') {
      response.writeHead(302, { location: '/ui/' }).end();
      return;
    }
    forward(request, response);
  });

  const forward = (request: IncomingMessage, response: ServerResponse) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers))
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    // The kubeconfig's identity is the only one the hub sees from here.
    delete headers.authorization;
    delete headers.cookie;
    if (options.hub.token) headers.authorization = `Bearer ${options.hub.token}`;
    const upstream = httpsRequest(
      {
        protocol: 'https:',
        hostname: hub.hostname,
        port: hub.port || 443,
        method: request.method,
        path: `${basePath}${request.url ?? '/'}`,
        headers,
        agent,
      },
      (answer) => {
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers))
          if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
        response.writeHead(answer.statusCode ?? 502, out);
        // Watches answer with a stream that lasts: flush each chunk as it comes.
        response.flushHeaders();
        answer.pipe(response);
        answer.on('error', () => response.destroy());
      },
    );
    upstream.on('error', (error) => {
      if (response.headersSent) response.destroy();
      else
        response
          .writeHead(502, { 'content-type': 'text/plain' })
          .end(`the hub at ${hub.origin} cannot be reached: ${error.message}\n`);
    });
    // A browser leaving a view closes its watch: close the hub's side too.
    response.on('close', () => upstream.destroy());
    request.pipe(upstream);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: `${origin}/ui/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** Why a request is refused (not from this machine's browser tab of the dashboard), or undefined. */
function refuse(request: IncomingMessage, origin: string): string | undefined {
  const host = request.headers.host ?? '';
  if (!LOOPBACK_HOST.test(host)) return `host ${host} is not served: open the dashboard at ${origin}/ui/`;
  const from = request.headers.origin;
  if (from !== undefined && from !== 'null' && !sameLoopbackOrigin(from, origin))
    return `requests from ${from} are not served`;
  if (request.headers['sec-fetch-site'] === 'cross-site') return 'cross-site requests are not served';
  return undefined;
}

function sameLoopbackOrigin(from: string, origin: string): boolean {
  try {
    const url = new URL(from);
    return url.protocol === 'http:' && LOOPBACK_HOST.test(url.host) && url.port === new URL(origin).port;
  } catch {
    return false;
  }
}
