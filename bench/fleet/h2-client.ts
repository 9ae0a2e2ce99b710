/**
 * One simulated device's connection to its server: a single HTTP/2 session
 * (as the agent holds) carrying its watch, its heartbeats and whatever else,
 * opened on first use and again after it closed (hub restart, GOAWAY,
 * revocation). Requests on a broken session fail; the device retries.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants } from 'node:http2';
import type { SecureContext } from 'node:tls';

/** An answer: its status and its body stream. */
export interface H2Response {
  readonly status: number;
  readonly stream: ClientHttp2Stream;
}

/** Options of {@link H2Client.request}. */
export interface H2RequestOptions {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signal: AbortSignal;
  /** Fails when the status line takes longer. */
  readonly headersTimeoutMs: number;
  /** Fails when the stream stays silent longer (a watch gets bookmarks every 10 s). */
  readonly idleTimeoutMs: number;
}

export class H2Client {
  readonly #origin: string;
  readonly #secureContext: SecureContext;
  readonly #connectTimeoutMs: number;
  #session: ClientHttp2Session | undefined;

  constructor(origin: string, secureContext: SecureContext, connectTimeoutMs = 10_000) {
    this.#origin = origin;
    this.#secureContext = secureContext;
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  /** Sends a request on the session (opening one if needed); resolves when its headers arrived. */
  request(options: H2RequestOptions): Promise<H2Response> {
    const session = this.#currentSession();
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(
          { ':method': options.method, ':path': options.path, ...options.headers },
          { signal: options.signal, endStream: options.body === undefined },
        );
      } catch (error) {
        reject(error);
        return;
      }
      const headersTimer = setTimeout(() => {
        stream.close(constants.NGHTTP2_CANCEL);
        reject(new Error('headers timeout'));
      }, options.headersTimeoutMs);
      stream.setTimeout(options.idleTimeoutMs, () => stream.destroy(new Error('body timeout')));
      stream.once('response', (headers) => {
        clearTimeout(headersTimer);
        resolve({ status: Number(headers[':status']), stream });
      });
      stream.once('error', (error) => {
        clearTimeout(headersTimer);
        reject(error);
      });
      stream.once('close', () => {
        clearTimeout(headersTimer);
        reject(new Error(`stream closed (${stream.rstCode})`));
      });
      if (options.body !== undefined) stream.end(options.body);
    });
  }

  /** Closes the session and every stream on it. */
  close(): void {
    this.#session?.destroy();
    this.#session = undefined;
  }

  #currentSession(): ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = connect(this.#origin, { secureContext: this.#secureContext });
    this.#session = session;
    const timer = setTimeout(() => session.destroy(new Error('connect timeout')), this.#connectTimeoutMs);
    session.once('connect', () => clearTimeout(timer));
    const forget = () => {
      clearTimeout(timer);
      if (this.#session === session) this.#session = undefined;
    };
    // Its streams hear of the failure themselves; the session is only dropped.
    session.on('error', forget);
    session.once('close', forget);
    session.once('goaway', forget);
    return session;
  }
}

/** Reads a whole body as text. */
export async function readText(stream: ClientHttp2Stream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
