/** The few HTTPS calls enrollment makes to the hub, and the error they fail with. */
import { HubDispatcher, type HubTls, hubRequest } from '../hub-client/index.ts';

/** A refusal or failure from the hub, with the Status it sent when it sent one. */
export class EnrollmentError extends Error {
  override readonly name = 'EnrollmentError';
  /** The HTTP status; 0 when the hub could not be reached. */
  readonly statusCode: number;
  /** The Status reason (`Unauthorized`, `AlreadyExists`, `Invalid`, ...), when given. */
  readonly reason?: string;

  constructor(message: string, statusCode: number, reason?: string, options?: ErrorOptions) {
    super(message, options);
    this.statusCode = statusCode;
    this.reason = reason;
  }

  /**
   * True when retrying the same request cannot help (the token or the
   * certificate was refused, the name is taken, the request is invalid);
   * false for unreachable hubs and server errors.
   */
  get terminal(): boolean {
    return (
      this.statusCode >= 400 && this.statusCode < 500 && this.statusCode !== 429 && this.statusCode !== 408
    );
  }
}

/**
 * Sends one JSON request and returns the status and parsed body: `T`'s
 * fields on success, a Status otherwise (nothing of it is checked: callers
 * check what they read). Network failures throw {@link EnrollmentError} with status 0.
 */
export async function callHub<T extends object = Record<string, unknown>>(
  url: string,
  init: { method: 'GET' | 'POST'; body?: object; tls: HubTls; signal?: AbortSignal },
): Promise<{ status: number; body: Partial<T> & Record<string, unknown>; hubTimeMs?: number }> {
  // HTTPS_PROXY / NO_PROXY honoured (Node 20's fetch ignores them); without a CA the hub is not verified.
  const dispatcher = new HubDispatcher(init.tls);
  try {
    const response = await hubRequest(url, {
      method: init.method,
      dispatcher,
      ...(init.signal ? { signal: init.signal } : {}),
      headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await response.body.text();
    let body: Partial<T> & Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Partial<T> & Record<string, unknown>;
    } catch {
      // not JSON (a proxy's error page): the status says enough
    }
    // The hub's clock when it answered (its Date header): certificates' dates are on that clock.
    const date = Date.parse(String(response.headers.date ?? ''));
    return { status: response.statusCode, body, ...(Number.isNaN(date) ? {} : { hubTimeMs: date }) };
  } catch (cause) {
    if (init.signal?.aborted) throw cause;
    throw new EnrollmentError(`cannot reach the hub at ${url}: ${(cause as Error).message}`, 0, undefined, {
      cause,
    });
  } finally {
    await dispatcher.close();
  }
}

/** The error for an answer that is not the expected one: the hub's Status message when it sent one. */
export function refusal(what: string, status: number, body: Record<string, unknown>): EnrollmentError {
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  const reason = typeof body.reason === 'string' ? body.reason : undefined;
  return new EnrollmentError(`${what}: ${message}`, status, reason);
}
