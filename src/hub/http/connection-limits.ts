/**
 * What a connection may hold of the hub while it does nothing useful: slow or silent clients
 * (slowloris) are cut off, idle connections closed, and one client certificate cannot open
 * connections without end. Timeouts that Node applies by itself (the TLS handshake, HTTP/1.1
 * headers and request bodies) are set in {@link serverTimeoutOptions}; the rest is watched here on
 * the server's events. A connection carrying an open stream (a watch, `logs -f`) is never idle,
 * however quiet: it is what a watch is for.
 */

import type { IncomingMessage } from 'node:http';
import type { Http2SecureServer, Http2ServerRequest, Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** The connection limits of a hub; every field has its default in {@link CONNECTION_LIMIT_DEFAULTS}. */
export interface ConnectionLimits {
  /** A TLS handshake must be done within this (a client that sends no ClientHello is cut). @default 10_000 */
  readonly handshakeTimeoutMs?: number;
  /** A connection must send its first request within this after the handshake. @default 10_000 */
  readonly firstRequestTimeoutMs?: number;
  /** An HTTP/1.1 request's headers must arrive within this. @default 15_000 */
  readonly headersTimeoutMs?: number;
  /** An HTTP/1.1 request (headers and body) must arrive within this. @default 60_000 */
  readonly requestTimeoutMs?: number;
  /**
   * A connection without an open request or stream for this long is closed (HTTP/2 sessions and
   * HTTP/1.1 keep-alive alike); open watches keep their connection. @default 60_000
   */
  readonly idleTimeoutMs?: number;
  /** Connections one device certificate may hold at once (more are closed at once). @default 8 */
  readonly maxConnectionsPerDevice?: number;
  /** Connections any other verified client certificate may hold at once. @default 512 */
  readonly maxConnectionsPerClient?: number;
}

/** The defaults of {@link ConnectionLimits}, applied in this one place. */
export const CONNECTION_LIMIT_DEFAULTS: Required<ConnectionLimits> = {
  handshakeTimeoutMs: 10_000,
  firstRequestTimeoutMs: 10_000,
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  maxConnectionsPerDevice: 8,
  maxConnectionsPerClient: 512,
};

/** The CN prefix of device certificates (`src/hub/auth/device-identity.ts`). */
const DEVICE_CN_PREFIX = 'outpost:device:';

/** What the hub knows of one TLS connection, kept on the socket itself. */
interface ConnectionState {
  /** Whether a request came: the first-request deadline no longer applies. */
  used: boolean;
  /** Requests (HTTP/1.1) or streams (HTTP/2) in progress. */
  open: number;
}

const STATE = Symbol('outpost.connectionState');
type Tracked = { [STATE]?: ConnectionState };

/**
 * The options Node's server applies by itself: the TLS handshake timeout and HTTP/1.1's
 * headers, request and keep-alive timeouts (checked every second rather than Node's 30 s, so
 * that a slow client is cut near its deadline).
 */
export function serverTimeoutOptions(limits: ConnectionLimits = {}): Record<string, number> {
  const options = { ...CONNECTION_LIMIT_DEFAULTS, ...limits };
  return {
    handshakeTimeout: options.handshakeTimeoutMs,
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: Math.min(30_000, options.idleTimeoutMs),
    connectionsCheckingInterval: 1000,
  };
}

/**
 * Watches a hub's HTTPS server (HTTP/2 with HTTP/1.1 fallback): closes connections that send no
 * request in time, idle ones (no request or stream in progress), and those beyond a client
 * certificate's share. The server's own idle timer (`setTimeout`, fastify's
 * `http2SessionTimeout`) must be `idleTimeoutMs`: it raises the `timeout` events decided here.
 */
export function limitConnections(server: Http2SecureServer, limits: ConnectionLimits = {}): void {
  const options = { ...CONNECTION_LIMIT_DEFAULTS, ...limits };
  const perCertificate = new Map<string, number>();

  server.on('secureConnection', (socket: TLSSocket & Tracked) => {
    const state: ConnectionState = { used: false, open: 0 };
    socket[STATE] = state;
    const timer = setTimeout(() => {
      if (!state.used) socket.destroy();
    }, options.firstRequestTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    const key = certificateKey(socket);
    if (key) {
      const count = (perCertificate.get(key.fingerprint) ?? 0) + 1;
      const max = key.device ? options.maxConnectionsPerDevice : options.maxConnectionsPerClient;
      if (count > max) {
        socket.destroy();
        return;
      }
      perCertificate.set(key.fingerprint, count);
      socket.once('close', () => {
        const left = (perCertificate.get(key.fingerprint) ?? 1) - 1;
        if (left === 0) perCertificate.delete(key.fingerprint);
        else perCertificate.set(key.fingerprint, left);
      });
    }
  });

  // HTTP/2: a session is busy while a stream is open. Streams are counted on the session.
  server.on('stream', (stream) => {
    const session = stream.session as (Http2Session & Tracked) | undefined;
    if (!session) return;
    session[STATE] ??= stateOfSession(session);
    const state = session[STATE];
    state.used = true;
    state.open++;
    stream.once('close', () => {
      state.open--;
    });
  });

  // HTTP/1.1: a socket is busy while a request is answered (HTTP/2 requests are counted as streams).
  server.on('request', (request: IncomingMessage | Http2ServerRequest, response) => {
    if ('stream' in request) return;
    const state = (request.socket as Socket & Tracked)[STATE];
    if (!state) return;
    state.used = true;
    state.open++;
    response.once('close', () => {
      state.open--;
    });
  });

  // Raised by the server's idle timer for an HTTP/2 session or an HTTP/1.1 socket: with a
  // listener here Node closes neither by itself.
  server.on('timeout', (connection: (Http2Session | Socket) & Tracked) => {
    const state = connection[STATE];
    if (state && state.open > 0) {
      // A quiet watch: looked at again after another idle period (activity also rearms it).
      connection.setTimeout(options.idleTimeoutMs);
      return;
    }
    if (isSession(connection)) connection.close();
    else connection.destroy();
  });
}

/**
 * The state of the TLS connection under an HTTP/2 session. The session's `socket` is a proxy
 * that reads the real socket's properties, so the state set at `secureConnection` is found.
 */
function stateOfSession(session: Http2Session): ConnectionState {
  const socket = session.socket as (Socket & Tracked) | undefined;
  return socket?.[STATE] ?? { used: true, open: 0 };
}

function isSession(connection: Http2Session | Socket): connection is Http2Session {
  return typeof (connection as Http2Session).goaway === 'function';
}

/** The verified client certificate of a connection: its fingerprint and whether it is a device's. */
function certificateKey(socket: TLSSocket): { fingerprint: string; device: boolean } | undefined {
  if (!socket.authorized) return undefined;
  const certificate = socket.getPeerCertificate();
  if (!certificate?.fingerprint256) return undefined;
  const cn = certificate.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return { fingerprint: certificate.fingerprint256, device: (name ?? '').startsWith(DEVICE_CN_PREFIX) };
}
