/**
 * The agent's HTTPS transport to the hub, on node core: HTTP/2 with one
 * multiplexed session per dispatcher (its watch, heartbeats, status writes
 * and log answers share one connection, so a hub's open files bound devices,
 * not requests), HTTP/1.1 keep-alive connections when the hub does not
 * negotiate `h2`; `HTTPS_PROXY` / `NO_PROXY` honoured (CONNECT tunnels, TLS
 * end to end with the hub), timeouts for connecting, for the answer's headers
 * and for a silent body.
 *
 * Not undici: its HTTP parser is WebAssembly, and compiling it cost the agent
 * ~20 MB of resident memory (a peak near 100 MB) on devices where the whole
 * agent should stay under 50 MB; node's own parser and nghttp2 are native and
 * already in the binary. The calls have the shape of undici's `request` the
 * agent used.
 */
import { Agent } from 'node:https';
import { http1Request, TunnelAgent } from './http1.ts';
import { HubSession, openHubConnection, UnsentRequestError } from './http2.ts';
import { proxyFor } from './proxy-tunnel.ts';
import { abortError, type HubResponse } from './response.ts';
import type { HubCallOptions, HubTls } from './types.ts';

/** Options of {@link hubRequest}: the request, and the dispatcher whose connections carry it. */
export interface HubRequestOptions extends HubCallOptions {
  readonly dispatcher: HubDispatcher;
}

/** Options of a {@link HubDispatcher}. */
export interface HubDispatcherOptions {
  /** Fails a request whose connection (tunnel and TLS handshake included) takes longer. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** How often an HTTP/2 session is pinged; one unanswered by the next ping is dropped. @default 30000 */
  readonly pingIntervalMs?: number;
}

/** A session being opened or open, or the knowledge that the hub speaks only HTTP/1.1. */
interface Connection {
  readonly opened: Promise<HubSession | 'http/1.1'>;
  /** What `opened` resolved with, once it did. */
  value?: HubSession | 'http/1.1';
}

/**
 * The connections to the hub with one TLS identity: one HTTP/2 session per
 * route (direct, or through the proxy `HTTPS_PROXY` names unless `NO_PROXY`
 * exempts the hub), opened on first use and replaced once it fails or the hub
 * sends GOAWAY; a pool of HTTP/1.1 connections for a hub without HTTP/2.
 */
export class HubDispatcher {
  readonly tls: HubTls;
  readonly connectTimeoutMs: number;
  readonly pingIntervalMs: number;
  /** By origin and proxy. */
  readonly #connections = new Map<string, Connection>();
  readonly #direct = new Agent({ keepAlive: true, scheduling: 'lifo' });
  #proxied: TunnelAgent | undefined;
  #closed = false;

  constructor(tls: HubTls, options: HubDispatcherOptions = {}) {
    this.tls = tls;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 30_000;
  }

  /** The HTTP/1.1 agent for `url`, by the proxy environment at the time of the call. */
  agentFor(url: URL): Agent {
    const proxy = proxyFor(url, process.env);
    if (!proxy) return this.#direct;
    if (this.#proxied?.proxy !== proxy) {
      this.#proxied?.destroy();
      this.#proxied = new TunnelAgent(proxy);
    }
    return this.#proxied;
  }

  /**
   * The HTTP/2 session for `url` (by the proxy environment at the time of the
   * call), opened when there is none; `'http/1.1'` when the hub does not speak
   * HTTP/2. After {@link close}, a session serves one request and closes.
   */
  connectionFor(url: URL, signal?: AbortSignal): Promise<HubSession | 'http/1.1'> {
    const proxy = proxyFor(url, process.env);
    const key = `${url.origin} ${proxy ?? 'direct'}`;
    let entry = this.#connections.get(key);
    if (entry?.value instanceof HubSession && !entry.value.usable) {
      this.#connections.delete(key);
      entry = undefined;
    }
    if (!entry) {
      const created: Connection = {
        opened: openHubConnection(url, {
          tls: this.tls,
          ...(proxy ? { proxy } : {}),
          connectTimeoutMs: this.connectTimeoutMs,
          pingIntervalMs: this.pingIntervalMs,
          onGone: () => this.#forget(key, created),
        }),
      };
      created.opened.then(
        (value) => {
          created.value = value;
        },
        () => this.#forget(key, created),
      );
      if (!this.#closed) this.#connections.set(key, created);
      entry = created;
    }
    return untilAborted(entry.opened, signal);
  }

  #forget(key: string, connection: Connection): void {
    if (this.#connections.get(key) === connection) this.#connections.delete(key);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes idle connections; the ones in use (a watch) finish their requests
   * and close then. Nothing is reused afterwards.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const connection of this.#connections.values())
      connection.opened.then((session) => session !== 'http/1.1' && session.close()).catch(() => {});
    this.#connections.clear();
    for (const agent of [this.#direct, this.#proxied]) {
      if (!agent) continue;
      // The agent destroys a socket freed while keepAlive is off instead of pooling it.
      (agent as Agent & { keepAlive: boolean }).keepAlive = false;
      for (const sockets of Object.values(agent.freeSockets))
        for (const socket of sockets ?? []) socket.destroy();
    }
  }
}

/**
 * Sends one request: a stream of the dispatcher's HTTP/2 session, or an
 * HTTP/1.1 request when the hub does not speak HTTP/2. Resolves with the
 * answer once its headers arrived.
 * @throws Error when the connection fails or breaks (GOAWAY, revocation, a
 * dead connection), a timeout passes or `signal` aborts.
 */
export async function hubRequest(url: string | URL, options: HubRequestOptions): Promise<HubResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher } = options;
  const started = performance.now();
  // A request a closing session refused is sent once more, on a new session, unless its body
  // streamed (partly read, it cannot be sent again).
  for (let attempt = 1; ; attempt++) {
    const connection = await dispatcher.connectionFor(target, options.signal);
    if (connection === 'http/1.1')
      return http1Request(target, options, {
        agent: dispatcher.agentFor(target),
        tls: dispatcher.tls,
        connectTimeoutMs: dispatcher.connectTimeoutMs,
      });
    // The headers timeout counts from the call, as on HTTP/1.1 where it covers connecting too.
    const headersTimeout = options.headersTimeout ?? 30_000;
    const left = headersTimeout > 0 ? Math.max(1, headersTimeout - (performance.now() - started)) : 0;
    const answer = connection.request(target, options, left);
    // A closed dispatcher reuses nothing: the session ends with this request.
    if (dispatcher.closed) connection.close();
    try {
      return await answer;
    } catch (error) {
      const again = error instanceof UnsentRequestError && attempt === 1 && typeof options.body !== 'object';
      if (!again) throw error;
    }
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (the work behind it goes on for others). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
