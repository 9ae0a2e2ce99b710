/**
 * What a connection may hold of the hub while it does nothing useful: slow or silent clients
 * (slowloris) are cut off, idle connections closed, and one client certificate cannot open
 * connections without end. The TLS handshake is bounded by Node (`handshakeTimeout`, from
 * {@link serverTimeoutOptions}), HTTP/1.1 headers and bodies by the server's own checks (set in
 * {@link limitConnections}); a connection's first request and its idleness are watched here on
 * the idle timers of its socket (HTTP/1.1) or session (HTTP/2). A connection carrying an open
 * request or stream (a watch, `logs -f`) is never idle, however quiet: it is what a watch is for.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2Session,
  constants as http2constants,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
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
  /**
   * An HTTP/1.1 request (headers and body) must arrive within this. An HTTP/2 request's body
   * too, plus a second per {@link ConnectionLimits.minBodyBytesPerSecond} of its announced
   * `content-length`, so an upload chunk on a slow link still fits. @default 60_000
   */
  readonly requestTimeoutMs?: number;
  /** The slowest rate an HTTP/2 body is granted time for, in bytes per second. @default 1024 */
  readonly minBodyBytesPerSecond?: number;
  /**
   * A connection without an open request or stream for this long is closed (HTTP/2 sessions and
   * HTTP/1.1 keep-alive alike); open watches keep their connection. @default 60_000
   */
  readonly idleTimeoutMs?: number;
  /** Connections one device certificate may hold at once (more are closed at once). @default 16 */
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
  minBodyBytesPerSecond: 1024,
  idleTimeoutMs: 60_000,
  maxConnectionsPerDevice: 16,
  maxConnectionsPerClient: 512,
};

/** The longest an HTTP/2 body is waited for, whatever length it announces. */
const MAX_BODY_DEADLINE_MS = 3_600_000;

/** The answer to a body that did not come in time, as the apiserver words a timeout. */
const REQUEST_TIMEOUT = {
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  reason: 'Timeout',
  message: 'the request body did not arrive in time',
  code: 408,
};

/** The CN prefix of device certificates (`src/agent/enrollment/keys.ts`). */
const DEVICE_CN_PREFIX = 'outpost:device:';

/** What the hub knows of one connection, kept on its HTTP/2 session or HTTP/1.1 socket. */
interface ConnectionState {
  /** Whether a request came: the first-request deadline no longer applies. */
  used: boolean;
  /** Requests (HTTP/1.1) or streams (HTTP/2) in progress. */
  open: number;
}

const STATE = Symbol('outpost.connectionState');
type Tracked = { [STATE]?: ConnectionState };
/** Marks an HTTP/2 stream whose route takes an endless body (set before or after its deadline is). */
const ENDLESS = Symbol('outpost.endlessBody');
type Timed = { [ENDLESS]?: boolean };

/** The TLS options of the hub's server that bound slow clients: the handshake's timeout. */
export function serverTimeoutOptions(limits: ConnectionLimits = {}): { handshakeTimeout: number } {
  return { handshakeTimeout: { ...CONNECTION_LIMIT_DEFAULTS, ...limits }.handshakeTimeoutMs };
}

/**
 * Watches a hub's HTTPS server (HTTP/2 with HTTP/1.1 fallback), before it listens: closes
 * connections that send no request in time, idle ones (no request or stream in progress), and
 * those beyond a client certificate's share; bounds HTTP/1.1 headers and bodies. It takes over
 * the sessions' idle timers (fastify's `http2SessionTimeout` would close a session with a quiet
 * watch in it).
 */
export function limitConnections(server: Http2SecureServer, limits: ConnectionLimits = {}): void {
  const options = { ...CONNECTION_LIMIT_DEFAULTS, ...limits };
  // Node's HTTP/1.1 checks, which an HTTP/2 server with `allowHTTP1` takes from its properties
  // only (not its options); checked every second rather than every 30 s, so a slow client is
  // cut near its deadline.
  Object.assign(server, {
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    keepAliveTimeout: Math.min(5_000, options.idleTimeoutMs),
    connectionsCheckingInterval: 1000,
  });
  // HTTP/1.1 sockets get the server's idle timer; their `timeout` events come to the listener below.
  server.setTimeout(options.idleTimeoutMs);
  const perCertificate = new Map<string, number>();

  // HTTP/2: the session (made before `secureConnection` listeners run) owns its idle timer.
  server.on('session', (session: Http2Session & Tracked) => {
    const state: ConnectionState = { used: false, open: 0 };
    session[STATE] = state;
    // Node's own listener and fastify's (both `once`, so a quiet watch would outlive only the
    // first period) give way to one that stays.
    session.removeAllListeners('timeout');
    session.on('timeout', () => {
      if (state.open > 0) session.setTimeout(options.idleTimeoutMs);
      else if (!state.used) session.destroy();
      else session.close();
    });
    session.setTimeout(options.firstRequestTimeoutMs);
  });
  server.on('stream', (stream, headers) => {
    const session = stream.session as (Http2Session & Tracked) | undefined;
    const state = session?.[STATE];
    if (!session || !state) return;
    if (!state.used) session.setTimeout(options.idleTimeoutMs);
    state.used = true;
    state.open++;
    stream.once('close', () => {
      state.open--;
    });
    limitBody(stream, headers, options);
  });

  server.on('secureConnection', (socket: TLSSocket & Tracked) => {
    if (socket.alpnProtocol !== 'h2') {
      socket[STATE] = { used: false, open: 0 };
      socket.setTimeout(options.firstRequestTimeoutMs);
    }
    const key = certificateKey(socket);
    if (!key) return;
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
  });

  // HTTP/1.1: a socket is busy while a request is answered (HTTP/2 requests are counted as streams).
  server.on('request', (request: IncomingMessage | Http2ServerRequest, response: ServerResponse) => {
    if ('stream' in request) return;
    const socket = request.socket as Socket & Tracked;
    const state = socket[STATE];
    if (!state) return;
    if (!state.used) socket.setTimeout(options.idleTimeoutMs);
    state.used = true;
    state.open++;
    response.once('close', () => {
      state.open--;
    });
  });

  // The idle timer of an HTTP/1.1 socket (an upgraded one, MQTT's WebSocket, is no longer the
  // server's and raises none): with a listener here Node does not close it by itself.
  server.on('timeout', (socket: Socket & Tracked) => {
    const state = socket[STATE];
    if (state && state.open > 0) {
      // A quiet watch: looked at again after another idle period (activity also rearms it).
      socket.setTimeout(options.idleTimeoutMs);
      return;
    }
    socket.destroy();
  });
}

/**
 * Cuts an HTTP/2 request whose body has not all come by its deadline (a slowloris dripping a
 * body into a stream): answered 408 if nothing was answered yet, else the stream is cancelled.
 * The deadline grows with the announced length (as Apache's mod_reqtimeout MinRate), so a
 * large body on a slow but honest link is not cut. Requests without a body (GET, a watch) end
 * with their headers and are never timed here.
 */
function limitBody(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  options: Required<ConnectionLimits>,
): void {
  if (stream.endAfterHeaders) return;
  const length = Number(headers['content-length']);
  const announced = Number.isFinite(length) && length > 0 ? length : 0;
  // At most an hour: a length past any body limit (refused by its route) must not overflow the timer.
  const deadlineMs = Math.min(
    MAX_BODY_DEADLINE_MS,
    options.requestTimeoutMs + (announced / options.minBodyBytesPerSecond) * 1000,
  );
  const timer = setTimeout(() => {
    if (stream.destroyed || stream.state.remoteClose || (stream as Timed)[ENDLESS]) return;
    if (stream.headersSent) {
      stream.close(http2constants.NGHTTP2_CANCEL);
      return;
    }
    // A whole answer, then RST_STREAM(NO_ERROR): "stop sending", as RFC 9113 §8.1 has a server say it.
    stream.respond({ ':status': 408, 'content-type': 'application/json' });
    stream.end(JSON.stringify(REQUEST_TIMEOUT), () => stream.close(http2constants.NGHTTP2_NO_ERROR));
  }, deadlineMs);
  timer.unref();
  stream.once('close', () => clearTimeout(timer));
}

/**
 * Lifts the body deadline from a request whose body is a stream without end by design (an
 * agent's answer to `outpost logs -f`); the route that takes it calls this before reading.
 */
export function allowEndlessBody(request: IncomingMessage | Http2ServerRequest): void {
  if (!('stream' in request)) return;
  (request.stream as ServerHttp2Stream & Timed)[ENDLESS] = true;
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
