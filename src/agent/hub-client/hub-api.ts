/**
 * The agent's HTTPS client for the hub's Kubernetes API: mutual TLS with the
 * device certificate, `HTTPS_PROXY` / `NO_PROXY` honoured (the folder's
 * `HubDispatcher`, on node core: Node 20's fetch ignores them), new connections
 * switched to renewed credentials while open ones carry on.
 */
import { Readable } from 'node:stream';
import type { DeviceDecommissionedReason } from '../../api/index.ts';
import { HubDispatcher, hubRequest as request } from './dispatcher.ts';
import type { HubResponse } from './response.ts';
import type { HubIdentity } from './types.ts';

/** The hub could not be reached (connection refused, TLS failure, timeout): retry later. */
export class HubUnreachableError extends Error {
  override readonly name = 'HubUnreachableError';
}

/** The hub answered with an error Status. */
export class HubStatusError extends Error {
  override readonly name: string = 'HubStatusError';
  constructor(
    readonly statusCode: number,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The hub said this device was decommissioned (its Device is gone): a 401
 * whose Status names the cause `DeviceDecommissioned`. Never retried; any
 * other 401 (a certificate the hub does not know) is a plain HubStatusError.
 */
export class DeviceDecommissionedError extends HubStatusError {
  override readonly name = 'DeviceDecommissionedError';
}

const DECOMMISSIONED: DeviceDecommissionedReason = 'DeviceDecommissioned';

/** Options of {@link HubApi}. */
export interface HubApiOptions {
  /**
   * Called (once per answer saying so) when the hub answers that the device
   * was decommissioned, whichever loop's request got the answer.
   */
  readonly onDecommissioned?: (error: DeviceDecommissionedError) => void;
}

/** One event of a watch stream. */
export interface WatchEvent<T = Record<string, unknown>> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

/** Options of one request. */
export interface RequestOptions {
  readonly body?: unknown;
  /** @default 'application/json', or 'application/merge-patch+json' for PATCH */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Gives up (as unreachable) after this long. @default 30000 */
  readonly timeoutMs?: number;
  /** Bytes sent as they are (`contentType` defaults to application/octet-stream), instead of `body` as JSON. */
  readonly bytes?: Buffer;
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A client bound to the device's credentials. */
export class HubApi {
  #credentials: HubIdentity;
  #dispatcher: HubDispatcher;
  readonly #options: HubApiOptions;

  constructor(credentials: HubIdentity, options: HubApiOptions = {}) {
    this.#credentials = credentials;
    this.#dispatcher = dispatcherFor(credentials);
    this.#options = options;
  }

  /** The device's name. */
  get deviceName(): string {
    return this.#credentials.name;
  }

  /** Uses renewed credentials for new connections; open ones (a watch) finish with the old. */
  setCredentials(credentials: HubIdentity): void {
    const old = this.#dispatcher;
    this.#credentials = credentials;
    this.#dispatcher = dispatcherFor(credentials);
    void old.close().catch(() => {});
  }

  /**
   * Sends a request and returns the parsed JSON answer of a 2xx.
   * @throws HubUnreachableError when no answer came; HubStatusError for any other status.
   */
  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const { statusCode, text } = await this.#send(method, path, options);
    const body = parse(text);
    if (statusCode >= 200 && statusCode < 300) return body as T;
    throw this.#statusError(statusCode, body);
  }

  /**
   * Opens a watch (`path` must carry `watch=1`) and yields its events until
   * the server ends the stream or `signal` aborts.
   * @throws HubUnreachableError, HubStatusError (e.g. 410 when the version is too old).
   */
  async *watch<T = Record<string, unknown>>(
    path: string,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEvent<T>> {
    let response: HubResponse;
    try {
      response = await request(`${this.#credentials.hubUrl}${path}`, {
        method: 'GET',
        dispatcher: this.#dispatcher,
        signal,
        headersTimeout: 30_000,
        // A watch is quiet for long stretches; bookmarks (every 10 s) keep it from timing out.
        bodyTimeout: 120_000,
      });
    } catch (cause) {
      if (signal.aborted) throw cause;
      throw new HubUnreachableError(`cannot reach the hub: ${(cause as Error).message}`, { cause });
    }
    if (response.statusCode !== 200) {
      const text = await response.body.text().catch(() => '');
      throw this.#statusError(response.statusCode, parse(text));
    }
    let pending = '';
    try {
      for await (const chunk of response.body) {
        pending += (chunk as Buffer).toString('utf8');
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line) yield JSON.parse(line) as WatchEvent<T>;
          newline = pending.indexOf('\n');
        }
      }
    } catch (cause) {
      if (signal.aborted) return;
      throw new HubUnreachableError(`watch broken: ${(cause as Error).message}`, { cause });
    } finally {
      response.body.destroy();
    }
  }

  /**
   * Streams `body` to the hub (chunked) and returns the answer's status once
   * the hub has read it all. No timeouts: a followed log streams as long as
   * its reader stays; aborting `signal` ends it.
   * @throws HubUnreachableError when the connection failed or broke (e.g. the hub closed it).
   */
  async upload(
    path: string,
    body: AsyncIterable<Buffer>,
    options: { contentType: string; signal: AbortSignal },
  ): Promise<number> {
    try {
      const response = await request(`${this.#credentials.hubUrl}${path}`, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        signal: options.signal,
        headers: { 'content-type': options.contentType },
        body: Readable.from(body),
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      await response.body.dump();
      return response.statusCode;
    } catch (cause) {
      if (options.signal.aborted) throw cause;
      throw new HubUnreachableError(`upload broken: ${(cause as Error).message}`, { cause });
    }
  }

  /** The error an answer other than 2xx becomes, telling the agent when it says the device was decommissioned. */
  #statusError(statusCode: number, body: Record<string, unknown>): HubStatusError {
    const error = statusError(statusCode, body);
    if (error instanceof DeviceDecommissionedError) this.#options.onDecommissioned?.(error);
    return error;
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    await this.#dispatcher.close().catch(() => {});
  }

  async #send(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<{ statusCode: number; text: string }> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const contentType =
      options.contentType ??
      (options.bytes
        ? 'application/octet-stream'
        : method === 'PATCH'
          ? 'application/merge-patch+json'
          : 'application/json');
    const hasBody = options.body !== undefined || options.bytes !== undefined;
    try {
      const response = await request(`${this.#credentials.hubUrl}${path}`, {
        method: method as 'GET',
        dispatcher: this.#dispatcher,
        signal,
        headers: { ...options.headers, ...(hasBody ? { 'content-type': contentType } : {}) },
        body: options.bytes
          ? Readable.from([options.bytes])
          : options.body === undefined
            ? undefined
            : JSON.stringify(options.body),
      });
      return { statusCode: response.statusCode, text: await response.body.text() };
    } catch (cause) {
      if (options.signal?.aborted) throw cause;
      throw new HubUnreachableError(`cannot reach the hub: ${(cause as Error).message}`, { cause });
    }
  }
}

function dispatcherFor(credentials: HubIdentity): HubDispatcher {
  const tls = { ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem };
  return new HubDispatcher(tls);
}

function parse(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function statusError(statusCode: number, body: Record<string, unknown>): HubStatusError {
  const message = typeof body.message === 'string' ? body.message : `HTTP ${statusCode}`;
  const reason = typeof body.reason === 'string' ? body.reason : undefined;
  const causes = (body.details as { causes?: { reason?: unknown }[] } | undefined)?.causes;
  if (statusCode === 401 && Array.isArray(causes) && causes.some((cause) => cause?.reason === DECOMMISSIONED))
    return new DeviceDecommissionedError(statusCode, reason, message);
  return new HubStatusError(statusCode, reason, message);
}
