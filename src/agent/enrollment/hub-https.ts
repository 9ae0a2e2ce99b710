/**
 * The agent's HTTPS transport to the hub, on `node:https`: keep-alive
 * connections, `HTTPS_PROXY` / `NO_PROXY` honoured (CONNECT tunnels through
 * `https-proxy-agent`, TLS end to end with the hub), timeouts for the
 * answer's headers and for a silent body.
 *
 * Not undici: its HTTP parser is WebAssembly, and compiling it cost the agent
 * ~20 MB of resident memory (a peak near 100 MB) on devices where the whole
 * agent should stay under 50 MB; node's own parser is native and already
 * loaded. The calls have the shape of undici's `request` the agent used.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { HttpsProxyAgent } from 'https-proxy-agent';

/** TLS settings of a dispatcher. */
export interface HubTls {
  /** The hub's CA; without it the hub is not verified (only to fetch the CA on first contact). */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/**
 * A pool of connections to the hub with one TLS identity: direct, or through
 * the proxy `HTTPS_PROXY` names unless `NO_PROXY` exempts the hub.
 */
export class HubDispatcher {
  readonly tls: HubTls;
  readonly connectTimeoutMs: number;
  readonly #direct = new Agent({ keepAlive: true, scheduling: 'lifo' });
  #proxied: HttpsProxyAgent<string> | undefined;

  constructor(tls: HubTls, options: { connectTimeoutMs?: number } = {}) {
    this.tls = tls;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** The agent for `url`, by the proxy environment at the time of the call. */
  agentFor(url: URL): Agent {
    const proxy = proxyFor(url, process.env);
    if (!proxy) return this.#direct;
    if (this.#proxied?.proxy.href !== new URL(proxy).href)
      this.#proxied = new HttpsProxyAgent(proxy, { keepAlive: true, scheduling: 'lifo' });
    return this.#proxied;
  }

  /**
   * Closes idle connections; the ones in use (a watch) finish their request
   * and close then. Nothing is reused afterwards.
   */
  async close(): Promise<void> {
    for (const agent of [this.#direct, this.#proxied]) {
      if (!agent) continue;
      // The agent destroys a socket freed while keepAlive is off instead of pooling it.
      (agent as Agent & { keepAlive: boolean }).keepAlive = false;
      for (const sockets of Object.values(agent.freeSockets))
        for (const socket of sockets ?? []) socket.destroy();
    }
  }
}

/** The body of an answer: a stream, read once; destroyed when it stays silent longer than its timeout. */
export class HubResponseBody {
  readonly #stream: IncomingMessage;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(stream: IncomingMessage, timeoutMs: number) {
    this.#stream = stream;
    this.#timeoutMs = timeoutMs;
    this.#arm();
    stream.once('close', () => clearTimeout(this.#timer));
  }

  /** The whole body as UTF-8 text. */
  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Reads and discards the body. */
  async dump(): Promise<void> {
    for await (const _ of this) {
      // discarded
    }
  }

  destroy(): void {
    this.#stream.destroy();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of this.#stream) {
        this.#arm();
        yield chunk as Buffer;
      }
    } finally {
      clearTimeout(this.#timer);
    }
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#timeoutMs <= 0) return;
    this.#timer = setTimeout(
      () => this.#stream.destroy(new Error(`the hub's answer stalled for ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
  }
}

/** An answer: status and headers; the body streams. */
export interface HubResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: HubResponseBody;
}

/** Options of {@link hubRequest}. */
export interface HubRequestOptions {
  readonly method: string;
  readonly dispatcher: HubDispatcher;
  readonly signal?: AbortSignal;
  readonly headers?: Record<string, string>;
  /** Sent as it is (a string) or streamed chunked (a stream). */
  readonly body?: string | Readable;
  /** Fails when the answer's headers take longer (0: never). @default 30000 */
  readonly headersTimeout?: number;
  /** Fails when the body stays silent longer (0: never). @default 30000 */
  readonly bodyTimeout?: number;
}

/**
 * Sends one request; resolves with the answer once its headers arrived.
 * @throws Error when the connection fails, a timeout passes or `signal` aborts.
 */
export function hubRequest(url: string | URL, options: HubRequestOptions): Promise<HubResponse> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher } = options;
  const headersTimeout = options.headersTimeout ?? 30_000;
  const bodyTimeout = options.bodyTimeout ?? 30_000;
  return new Promise((resolve, reject) => {
    const request = httpsRequest(target, {
      method: options.method,
      agent: dispatcher.agentFor(target),
      headers: {
        ...options.headers,
        ...(typeof options.body === 'string'
          ? { 'content-length': String(Buffer.byteLength(options.body)) }
          : {}),
      },
      ...(options.signal ? { signal: options.signal } : {}),
      ca: dispatcher.tls.ca,
      cert: dispatcher.tls.cert,
      key: dispatcher.tls.key,
      rejectUnauthorized: dispatcher.tls.ca !== undefined,
    });
    const fail = (message: string) => () => request.destroy(new Error(message));
    const connectTimer = setTimeout(
      fail(`cannot connect to the hub within ${dispatcher.connectTimeoutMs} ms`),
      dispatcher.connectTimeoutMs,
    );
    const headersTimer =
      headersTimeout > 0
        ? setTimeout(fail(`no answer from the hub within ${headersTimeout} ms`), headersTimeout)
        : undefined;
    const settled = () => {
      clearTimeout(connectTimer);
      clearTimeout(headersTimer);
    };
    request.once('socket', (socket) => {
      // A new TLS connection is connected once its handshake is done; a reused or tunnelled one already is.
      if (socket.connecting) socket.once('secureConnect', () => clearTimeout(connectTimer));
      else clearTimeout(connectTimer);
    });
    // `on`, not `once`: an error after the answer (a broken body) reaches the body's reader too.
    request.on('error', (error) => {
      settled();
      reject(error);
    });
    request.once('response', (response) => {
      settled();
      resolve({
        statusCode: response.statusCode ?? 0,
        headers: response.headers,
        body: new HubResponseBody(response, bodyTimeout),
      });
    });
    if (options.body === undefined || typeof options.body === 'string') request.end(options.body);
    else {
      options.body.once('error', (error) => request.destroy(error));
      options.body.pipe(request);
    }
  });
}

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
