import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The device's metrics endpoint, as device-worker-ng's: local programs
 * `POST /metrics` a JSON body `{"name":"cpu","value":20}` (or an array of
 * such, at most {@link MAX_BATCH}) and `GET /metrics` reads the table (JSON),
 * or the agent's own Prometheus metrics for a client that asks for
 * `text/plain` or OpenMetrics (as Prometheus and promtool do). It listens on
 * 127.0.0.1 only. A body that is not that is a 400 whose text
 * names the problem, and changes nothing (a batch is checked whole first).
 */

/** Most metrics in one POST. */
export const MAX_BATCH = 1000;
const MAX_BODY_BYTES = 64 * 1024;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One posted metric. */
export interface PostedMetric {
  readonly name: string;
  readonly value: number;
}

/** What the endpoint serves. */
export interface MetricsEndpointHandlers {
  /** Called with a whole valid body, in order. */
  readonly post: (metrics: readonly PostedMetric[]) => void;
  /** The table, for GET. */
  readonly read: () => unknown;
  /** The agent's metrics in the Prometheus text format, for a GET asking for text. @default none: JSON only */
  readonly exposition?: () => Promise<{ contentType: string; body: string }>;
}

/** A listening endpoint. */
export interface MetricsEndpoint {
  readonly port: number;
  /** Stops listening and closes every connection (kept alive a minute otherwise). */
  close(): Promise<void>;
}

/** Starts the endpoint on 127.0.0.1:`port` (0: any free port); resolves once it listens. */
export async function startMetricsEndpoint(
  port: number,
  handlers: MetricsEndpointHandlers,
): Promise<MetricsEndpoint> {
  const server = createServer((request, response) => {
    try {
      handle(request, response, handlers);
    } catch {
      answer(response, 500, 'internal error');
    }
  });
  // Many small POSTs from the same programs: keep connections open.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * One request. Kept lean, as a program may POST a metric per request a
 * thousand times a second (bench/device-policies.ts): the body is gathered
 * by listeners (a body of one chunk is not copied), with no stream iterator
 * or promise per request, and a 204 is headers only.
 */
function handle(request: IncomingMessage, response: ServerResponse, handlers: MetricsEndpointHandlers): void {
  const url = request.url ?? '/';
  const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
  const refusal =
    path !== '/metrics'
      ? ([404, 'not found: POST or GET /metrics'] as const)
      : request.method !== 'POST' && request.method !== 'GET'
        ? ([405, `method ${request.method} not allowed: POST or GET /metrics`] as const)
        : undefined;
  if (refusal) {
    if (refusal[0] === 405) response.setHeader('allow', 'GET, POST');
    drainThen(request, response, refusal[0], refusal[1]);
    return;
  }
  if (request.method === 'GET') {
    if (handlers.exposition && wantsText(request.headers.accept)) {
      request.resume();
      handlers.exposition().then(
        ({ contentType, body }) => {
          response.setHeader('content-type', contentType);
          response.end(body);
        },
        (error: Error) => answer(response, 500, `metrics not collected: ${error.message}`),
      );
      return;
    }
    drainThen(request, response, 200, handlers.read());
    return;
  }
  const type = request.headers['content-type'];
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    drainThen(request, response, 415, `content type ${type} not supported: application/json`);
    return;
  }
  let first: Buffer | undefined;
  let more: Buffer[] | undefined;
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      request.off('data', onData);
      request.off('end', onEnd);
      drainThen(request, response, 413, `body larger than ${MAX_BODY_BYTES} bytes`);
      return;
    }
    if (first === undefined) first = chunk;
    else {
      more ??= [first];
      more.push(chunk);
    }
  };
  const onEnd = () => {
    const bytes = more ? Buffer.concat(more) : (first ?? Buffer.alloc(0));
    let parsed: PostedMetric[] | string;
    try {
      parsed = parseBody(JSON.parse(bytes.toString('utf8')));
    } catch (error) {
      parsed = `body is not JSON: ${(error as Error).message}`;
    }
    if (typeof parsed === 'string') answer(response, 400, parsed);
    else {
      handlers.post(parsed);
      response.writeHead(204).end();
    }
  };
  request.on('data', onData);
  request.on('end', onEnd);
}

/** The metrics of a body, or what is wrong with it. */
export function parseBody(body: unknown): PostedMetric[] | string {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return 'body is an empty array: post {"name": "...", "value": N}';
  if (items.length > MAX_BATCH) return `more than ${MAX_BATCH} metrics in one body`;
  const metrics: PostedMetric[] = [];
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    const at = Array.isArray(body) ? `[${i}]` : 'body';
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return `${at} must be an object {"name": "...", "value": N}`;
    const { name, value } = item as Record<string, unknown>;
    for (const key in item)
      if (key !== 'name' && key !== 'value')
        return `${at} has unknown field ${JSON.stringify(key)}: only name and value`;
    if (typeof name !== 'string') return `${at}.name is required and must be a string`;
    if (!NAME.test(name) || name === 'nil' || name.length > 63)
      return `${at}.name ${JSON.stringify(name)} is not a metric name (letters, digits, _; not starting with a digit; not nil)`;
    if (typeof value !== 'number' || !Number.isFinite(value))
      return `${at}.value is required and must be a finite number`;
    metrics.push({ name, value });
  }
  return metrics;
}

function wantsText(accept: string | undefined): boolean {
  return /\b(text\/plain|application\/openmetrics-text)\b/i.test(accept ?? '');
}

function drainThen(request: IncomingMessage, response: ServerResponse, code: number, message: unknown): void {
  request.resume();
  answer(response, code, message);
}

function answer(response: ServerResponse, code: number, body: unknown): void {
  if (response.headersSent) return;
  response.statusCode = code;
  if (code >= 400) {
    response.setHeader('content-type', 'text/plain; charset=utf-8');
    response.end(`${String(body)}\n`);
    return;
  }
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify(body));
}
