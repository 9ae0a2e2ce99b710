import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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

/** Starts the endpoint on 127.0.0.1:`port` (0: any free port); resolves with the server once it listens. */
export async function startMetricsEndpoint(
  port: number,
  handlers: MetricsEndpointHandlers,
): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    handle(request, response, handlers).catch(() => answer(response, 500, 'internal error'));
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
  return { server, port: (server.address() as AddressInfo).port };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  handlers: MetricsEndpointHandlers,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== '/metrics') return answer(response, 404, 'not found: POST or GET /metrics');
  if (request.method === 'GET') {
    if (handlers.exposition && wantsText(request.headers.accept)) {
      const { contentType, body } = await handlers.exposition();
      response.setHeader('content-type', contentType);
      response.end(body);
      return;
    }
    return answer(response, 200, handlers.read());
  }
  if (request.method !== 'POST') {
    response.setHeader('allow', 'GET, POST');
    return answer(response, 405, `method ${request.method} not allowed: POST or GET /metrics`);
  }
  const type = request.headers['content-type'];
  if (type !== undefined && !/^application\/json\b/i.test(type))
    return drainThen(request, response, 415, `content type ${type} not supported: application/json`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return answer(response, 413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    return answer(response, 400, `body is not JSON: ${(error as Error).message}`);
  }
  const parsed = parseBody(body);
  if (typeof parsed === 'string') return answer(response, 400, parsed);
  handlers.post(parsed);
  response.statusCode = 204;
  response.end();
}

/**
 * Whether a GET asks for the Prometheus text format: `text/plain` or OpenMetrics named in Accept
 * (a bare wildcard, as fetch and curl send, keeps the JSON table the endpoint has always answered).
 */
function wantsText(accept: string | undefined): boolean {
  return /\b(text\/plain|application\/openmetrics-text)\b/i.test(accept ?? '');
}

/** The metrics of a body, or what is wrong with it. */
export function parseBody(body: unknown): PostedMetric[] | string {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return 'body is an empty array: post {"name": "...", "value": N}';
  if (items.length > MAX_BATCH) return `more than ${MAX_BATCH} metrics in one body`;
  const metrics: PostedMetric[] = [];
  for (const [i, item] of items.entries()) {
    const at = Array.isArray(body) ? `[${i}]` : 'body';
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return `${at} must be an object {"name": "...", "value": N}`;
    const { name, value, ...rest } = item as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) return `${at} has unknown field ${JSON.stringify(extra[0])}: only name and value`;
    if (typeof name !== 'string') return `${at}.name is required and must be a string`;
    if (!NAME.test(name) || name === 'nil' || name.length > 63)
      return `${at}.name ${JSON.stringify(name)} is not a metric name (letters, digits, _; not starting with a digit; not nil)`;
    if (typeof value !== 'number' || !Number.isFinite(value))
      return `${at}.value is required and must be a finite number`;
    metrics.push({ name, value });
  }
  return metrics;
}

function drainThen(request: IncomingMessage, response: ServerResponse, code: number, message: string): void {
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
