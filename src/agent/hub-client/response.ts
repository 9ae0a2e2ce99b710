/** What a request to the hub gives back, whichever HTTP version carried it, and the error an aborted one fails with. */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/** The body of an answer: a stream, read once; destroyed when it stays silent longer than its timeout. */
export class HubResponseBody {
  readonly #stream: Readable;
  readonly #timeoutMs: number;
  readonly #broken: () => Error | undefined;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `stream` is the HTTP/1.1 response or the HTTP/2 stream; `broken` tells,
   * once it ended, whether it ended cut short (an HTTP/2 stream reset ends
   * like a complete one).
   */
  constructor(stream: Readable, timeoutMs: number, broken: () => Error | undefined = () => undefined) {
    this.#stream = stream;
    this.#timeoutMs = timeoutMs;
    this.#broken = broken;
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
      const broken = this.#broken();
      if (broken) throw broken;
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

/** The error a request fails with when its `signal` aborts (as node's own requests do). */
export function abortError(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}
