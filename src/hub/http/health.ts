/**
 * The health endpoints as the apiserver serves them (`k8s.io/apiserver/pkg/server/healthz`):
 * `/livez`, `/readyz` and the deprecated `/healthz`, each answering `ok` when every check passes,
 * or `500` with one `[+]name ok` / `[-]name failed: reason withheld` line per check and
 * `<endpoint> check failed` (always verbose on failure; the reason itself is only logged, since
 * the endpoints are public). `?verbose` lists the checks on success too, `?exclude=NAME` skips
 * one, and `/<endpoint>/NAME` runs one check alone (`ok`, or `500 internal server error: REASON`).
 * They answer without credentials, as Kubernetes grants them to everyone
 * (`system:public-info-viewer`), so that load balancers and orchestrators may probe them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { routePlugin } from '../kube-api/index.ts';

/** One named check, as the apiserver's `healthz.HealthChecker`. */
export interface HealthCheck {
  /** Its name in the answers and in `/<endpoint>/NAME`: lower case, no slash. */
  readonly name: string;
  /** Returns (or resolves) when healthy; throws (or rejects) with the reason otherwise. */
  check(): void | Promise<void>;
}

/** Checks of each endpoint, beyond `ping` (which every endpoint has, first). */
export interface HealthOptions {
  /** Whether the process should be kept running: `/livez`. @default none */
  readonly livez?: readonly HealthCheck[];
  /**
   * Whether the hub should be sent requests: `/readyz`, after the liveness checks (the store
   * answers, caches synced, not shutting down). @default none
   */
  readonly readyz?: readonly HealthCheck[];
  /** Told why a check failed (the answers withhold it). @default not logged */
  readonly logger?: Logger;
}

const PING: HealthCheck = { name: 'ping', check: () => {} };

/**
 * The health route group, an encapsulated plugin: `/livez`, `/readyz`, `/healthz` (liveness and
 * readiness checks together, as the deprecated endpoint) and their per-check paths. The routes
 * are anonymous: they bypass authentication and authorisation.
 */
export const healthRoutes = routePlugin<HealthOptions>('health', async (app, options) => {
  const livez = [PING, ...(options.livez ?? [])];
  const readyz = [...livez, ...(options.readyz ?? [])];
  for (const [endpoint, checks] of [
    ['livez', livez],
    ['readyz', readyz],
    ['healthz', readyz],
  ] as const) {
    const config = { anonymous: true };
    app.get(`/${endpoint}`, { config }, (request, reply) =>
      answerAll(endpoint, checks, request, reply, options.logger),
    );
    for (const check of checks) {
      app.get(`/${endpoint}/${check.name}`, { config }, (_request, reply) => answerOne(check, reply));
    }
  }
});

async function answerAll(
  endpoint: string,
  checks: readonly HealthCheck[],
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Logger | undefined,
): Promise<FastifyReply> {
  const query = request.query as Record<string, string | string[] | undefined>;
  const excluded = new Set(([] as string[]).concat(query.exclude ?? []));
  let lines = '';
  const failures: string[] = [];
  // One after another, as the apiserver runs them: the output keeps the checks' order.
  for (const check of checks) {
    if (excluded.delete(check.name)) {
      lines += `[+]${check.name} excluded: ok\n`;
      continue;
    }
    const failure = await run(check);
    if (failure === undefined) {
      lines += `[+]${check.name} ok\n`;
    } else {
      lines += `[-]${check.name} failed: reason withheld\n`;
      failures.push(`[-]${check.name} failed: ${failure}`);
    }
  }
  if (excluded.size > 0) {
    const names = [...excluded].map((name) => JSON.stringify(name)).join(', ');
    lines += `warn: some health checks cannot be excluded: no matches for ${names}\n`;
  }
  text(reply);
  if (failures.length > 0) {
    logger?.info({ endpoint, failures }, 'health check failed');
    return reply.code(500).send(`${lines}${endpoint} check failed\n`);
  }
  if (query.verbose === undefined) return reply.send('ok');
  return reply.send(`${lines}${endpoint} check passed\n`);
}

async function answerOne(check: HealthCheck, reply: FastifyReply): Promise<FastifyReply> {
  const failure = await run(check);
  text(reply);
  if (failure === undefined) return reply.send('ok');
  return reply.code(500).send(`internal server error: ${failure}\n`);
}

/** The check's failure as one line, or undefined when it passed. */
async function run(check: HealthCheck): Promise<string | undefined> {
  try {
    await check.check();
    return undefined;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split('\n')[0];
  }
}

function text(reply: FastifyReply): void {
  reply
    .header('content-type', 'text/plain; charset=utf-8')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-cache, private');
}
