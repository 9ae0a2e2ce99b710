/**
 * The agent's HTTP/2 connection to the hub: one TLS connection (direct or
 * through a CONNECT tunnel) on which every request of a dispatcher is a
 * stream, so a device holds one connection however many requests it has open
 * (its watch, heartbeats, status writes, log answers). A hub that does not
 * pick `h2` in ALPN is reported as HTTP/1.1 for the caller to fall back.
 *
 * A PING every `pingIntervalMs` notices a dead connection (no answer by the
 * next PING destroys the session), so requests on it fail and the next one
 * opens a new connection.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  connect as http2Connect,
} from 'node:http2';
import { isIP } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { openTunnel } from './proxy-tunnel.ts';
import { abortError, type HubResponse, HubResponseBody } from './response.ts';
import type { HubCallOptions, HubTls } from './types.ts';

/** How to reach the hub. */
export interface OpenOptions {
  readonly tls: HubTls;
  /** The proxy to tunnel through, when one applies. */
  readonly proxy?: string;
  readonly connectTimeoutMs: number;
  readonly pingIntervalMs: number;
  /** Called once when the session can take no new request (closed, failed, GOAWAY). */
  readonly onGone: (session: HubSession) => void;
}

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2); node refuses them. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/**
 * Connects to `target`'s host (through `proxy` when given) with TLS, offering
 * `h2` and `http/1.1`. Resolves with a session when the hub picked `h2`, or
 * with `'http/1.1'` (the connection closed) when it did not.
 * @throws Error when the connection, the tunnel or the handshake fails or takes longer than the connect timeout.
 */
export async function openHubConnection(target: URL, options: OpenOptions): Promise<HubSession | 'http/1.1'> {
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new Error(`cannot connect to the hub within ${options.connectTimeoutMs} ms`)),
    options.connectTimeoutMs,
  );
  let socket: TLSSocket | undefined;
  try {
    const tunnel = options.proxy ? await openTunnel(options.proxy, target, timeout.signal) : undefined;
    socket = tlsConnect({
      ...(tunnel ? { socket: tunnel } : { port: Number(target.port || 443) }),
      host,
      // SNI carries names only (RFC 6066); the certificate is still checked against `host`.
      ...(isIP(host) ? {} : { servername: host }),
      ALPNProtocols: ['h2', 'http/1.1'],
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      // Unverified only without a CA: first contact, to fetch the CA that the token's pin checks.
      rejectUnauthorized: options.tls.ca !== undefined,
    });
    await handshake(socket, timeout.signal);
  } catch (error) {
    socket?.on('error', () => {}); // a late error of the abandoned socket is not the caller's
    socket?.destroy();
    throw timeout.signal.aborted ? timeout.signal.reason : error;
  } finally {
    clearTimeout(timer);
  }
  if (socket.alpnProtocol !== 'h2') {
    socket.destroy();
    return 'http/1.1';
  }
  socket.setKeepAlive(true, options.pingIntervalMs);
  const connected = socket;
  const session = http2Connect(target.origin, {
    createConnection: () => connected,
    settings: { enablePush: false },
  });
  return new HubSession(session, options);
}

function handshake(socket: TLSSocket, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => socket.destroy(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', reject);
      resolve();
    });
    socket.once('error', reject);
  });
}

/** A request the hub did not process (its session was closing): safe to send again on a new session. */
export class UnsentRequestError extends Error {
  override readonly name = 'UnsentRequestError';
}

/** One HTTP/2 session to the hub; its requests are streams. */
export class HubSession {
  readonly #session: ClientHttp2Session;
  #active = 0;
  #gone = false;

  constructor(session: ClientHttp2Session, options: OpenOptions) {
    this.#session = session;
    const gone = () => {
      if (this.#gone) return;
      this.#gone = true;
      options.onGone(this);
    };
    // Errors end the session (and fail its streams); the next request opens a new one.
    session.on('error', gone);
    session.once('goaway', gone);
    session.once('close', gone);
    // Idle, the session does not keep the process alive (as idle keep-alive sockets do not).
    session.unref();
    let unanswered = false;
    const pinger = setInterval(() => {
      if (session.destroyed) return;
      if (unanswered) {
        session.destroy(new Error(`the hub did not answer a ping within ${options.pingIntervalMs} ms`));
        return;
      }
      unanswered = true;
      session.ping((error) => {
        if (!error) unanswered = false;
      });
    }, options.pingIntervalMs);
    pinger.unref();
    session.once('close', () => clearInterval(pinger));
  }

  /** False once the session takes no new request. */
  get usable(): boolean {
    return !this.#gone && !this.#session.closed && !this.#session.destroyed;
  }

  /** Lets the open streams finish, then closes; nothing new is sent on it. */
  close(): void {
    if (!this.#session.closed) this.#session.close();
  }

  /**
   * Sends one request as a stream; resolves once the answer's headers arrived,
   * failing with the headers timeout once `headersLeftMs` passed (0: never).
   */
  request(target: URL, options: HubCallOptions, headersLeftMs: number): Promise<HubResponse> {
    const { signal } = options;
    const headersTimeout = options.headersTimeout ?? 30_000;
    const bodyTimeout = options.bodyTimeout ?? 30_000;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const headers: OutgoingHttpHeaders = {
        ':method': options.method,
        ':path': target.pathname + target.search,
      };
      for (const [name, value] of Object.entries(options.headers ?? {}))
        if (!CONNECTION_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
      if (typeof options.body === 'string') headers['content-length'] = Buffer.byteLength(options.body);
      let stream: ClientHttp2Stream;
      try {
        stream = this.#session.request(headers, { endStream: options.body === undefined });
      } catch (error) {
        // The session closed meanwhile (a GOAWAY just arrived): nothing was sent.
        return reject(new UnsentRequestError((error as Error).message, { cause: error }));
      }
      this.#opened(stream);
      let answered = false;
      const onAbort = () => stream.destroy(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer =
        headersLeftMs > 0
          ? setTimeout(
              () => stream.destroy(new Error(`no answer from the hub within ${headersTimeout} ms`)),
              headersLeftMs,
            )
          : undefined;
      // `on`, not `once`: an error after the answer (a broken body) reaches the body's reader too.
      stream.on('error', (error) => {
        clearTimeout(timer);
        if (answered) return;
        // A stream refused (RFC 9113 §8.7: past a GOAWAY's last stream) was not processed by the hub.
        if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM)
          reject(new UnsentRequestError(error.message, { cause: error }));
        else reject(error);
      });
      stream.once('close', () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (!answered)
          reject(new Error(`the hub's connection ended before its answer (HTTP/2 code ${stream.rstCode})`));
      });
      stream.once('response', (raw) => {
        answered = true;
        clearTimeout(timer);
        const responseHeaders: Record<string, string | string[] | undefined> = {};
        for (const [name, value] of Object.entries(raw))
          if (!name.startsWith(':')) responseHeaders[name] = value;
        resolve({
          statusCode: Number(raw[':status'] ?? 0),
          headers: responseHeaders,
          body: new HubResponseBody(stream, bodyTimeout, () =>
            stream.rstCode && stream.rstCode !== constants.NGHTTP2_NO_ERROR
              ? new Error(`the hub's answer broke off (HTTP/2 code ${stream.rstCode})`)
              : undefined,
          ),
        });
      });
      if (typeof options.body === 'string') stream.end(options.body);
      else if (options.body) {
        options.body.once('error', (error) => stream.destroy(error));
        options.body.pipe(stream);
      }
    });
  }

  /** Keeps the process alive while a stream is open. */
  #opened(stream: ClientHttp2Stream): void {
    if (this.#active++ === 0) this.#session.ref();
    stream.once('close', () => {
      if (--this.#active === 0 && !this.#session.destroyed) this.#session.unref();
    });
  }
}
