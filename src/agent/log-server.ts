import type { Logger } from 'pino';
import type { LogRequest } from '../api/index.ts';
import { delay } from '../util/index.ts';
import { Backoff } from './backoff.ts';
import { type HubApi, HubStatusError } from './hub-client/index.ts';
import { type ActualUnit, type Runtime, UnitNotFoundError } from './runtime/index.ts';

/**
 * Serves `outpost logs` without the hub ever connecting to the device: the
 * agent long-polls `GET /agent/v1/devices/NAME/log-requests` on its own mTLS
 * connection and answers each request it gets (several at once, each on its
 * own upload) with `POST .../log-requests/ID`: the unit's output streamed as
 * text (chunked, for as long as a follow lasts), or a Status when it cannot.
 */

/** Options of {@link LogServer}. */
export interface LogServerOptions {
  readonly api: HubApi;
  readonly runtime: Runtime;
  readonly log: Logger;
  /**
   * The run of a cron Workload to read (`request.run`, else the newest):
   * undefined when the Workload has no cron object here; throws, with the
   * message the person gets, when it has but not that run. @default none
   */
  readonly pickRun?: (namespace: string, workload: string, run?: number) => { id: string } | undefined;
  /** Retry delays while the hub is away. @default 1 s to 30 s */
  readonly backoff?: Backoff;
}

/** How long the first output may take before the upload starts anyway (errors show up before it). */
const FIRST_OUTPUT_MS = 200;

/** The agent's side of `outpost logs`. */
export class LogServer {
  readonly #options: LogServerOptions;
  readonly #serving = new Set<Promise<void>>();

  constructor(options: LogServerOptions) {
    this.#options = options;
  }

  /** Polls and serves until `signal` aborts; never throws for the hub's absence. */
  async run(signal: AbortSignal): Promise<void> {
    const { api, log } = this.#options;
    const backoff = this.#options.backoff ?? new Backoff({ initialMs: 1000, maxMs: 30_000 });
    const path = `/agent/v1/devices/${encodeURIComponent(api.deviceName)}/log-requests`;
    let failing = false;
    while (!signal.aborted) {
      try {
        // The hub holds the poll for up to 25 s when nothing is asked.
        const { items } = await api.request<{ items?: LogRequest[] }>('GET', path, {
          signal,
          timeoutMs: 60_000,
        });
        if (failing) log.info('log requests reachable again');
        failing = false;
        backoff.reset();
        for (const request of items ?? []) this.#track(this.#serve(request, signal));
      } catch (error) {
        if (signal.aborted) break;
        // One line per state change, not per attempt.
        if (!failing) log.warn({ err: (error as Error).message }, 'cannot poll for log requests: retrying');
        failing = true;
        // A hub without the endpoint (404) is not coming back soon: wait the longest.
        const wait = error instanceof HubStatusError && error.statusCode === 404 ? 60_000 : backoff.next();
        await delay(wait, signal).catch(() => {});
      }
    }
    await Promise.allSettled([...this.#serving]);
  }

  #track(serving: Promise<void>): void {
    this.#serving.add(serving);
    void serving.finally(() => this.#serving.delete(serving));
  }

  /** Answers one request: the output, or a Status saying why not. Never throws. */
  async #serve(request: LogRequest, agentSignal: AbortSignal): Promise<void> {
    const { api, log } = this.#options;
    const path = `/agent/v1/devices/${encodeURIComponent(api.deviceName)}/log-requests/${encodeURIComponent(request.id)}`;
    const stop = new AbortController();
    const signal = AbortSignal.any([agentSignal, stop.signal]);
    try {
      const opened = await this.#open(request, signal).catch((error: unknown) => ({
        error: {
          code: 500,
          reason: 'InternalError',
          message: `cannot read the logs: ${(error as Error).message}`,
        },
      }));
      if ('error' in opened) {
        await api.upload(path, once(JSON.stringify(opened.error)), {
          contentType: 'application/json',
          signal,
        });
        return;
      }
      await api.upload(path, opened.output, { contentType: 'text/plain; charset=utf-8', signal });
    } catch (error) {
      // The reader left (the hub closed the upload) or the hub went away: nothing to retry.
      if (!agentSignal.aborted)
        log.debug({ err: (error as Error).message, workload: request.workload }, 'log upload ended');
    } finally {
      stop.abort();
    }
  }

  /**
   * Opens the output of the request's workload: the first of its units (by
   * id) that has the container asked for (any container when none is).
   * Errors of the runtime show up at the first read, so that read is started
   * here and waited for briefly.
   */
  async #open(
    request: LogRequest,
    signal: AbortSignal,
  ): Promise<
    { output: AsyncIterable<Buffer> } | { error: { code: number; reason: string; message: string } }
  > {
    const device = this.#options.api.deviceName;
    let picked: { id: string } | undefined;
    try {
      picked = this.#options.pickRun?.(request.namespace, request.workload, request.run);
    } catch (error) {
      return notFound(
        `workload "${request.workload}" in namespace "${request.namespace}" on device "${device}": ${(error as Error).message}`,
      );
    }
    if (!picked && request.run !== undefined)
      return {
        error: {
          code: 400,
          reason: 'BadRequest',
          message: `workload "${request.workload}" in namespace "${request.namespace}" has no cron schedule on device "${device}": runs are a cron Workload's`,
        },
      };
    const units = (await this.#options.runtime.list())
      .filter((unit) =>
        picked
          ? unit.id === picked.id
          : unit.source.namespace === request.namespace && unit.source.workload === request.workload,
      )
      .sort((a, b) => a.id.localeCompare(b.id));
    if (units.length === 0)
      return notFound(
        `workload "${request.workload}" in namespace "${request.namespace}" has nothing running on device "${device}"`,
      );
    for (const unit of units) {
      const opened = await this.#openUnit(unit, request, signal);
      if (opened) return { output: opened };
    }
    return notFound(
      `workload "${request.workload}" in namespace "${request.namespace}" has no container "${request.container ?? ''}" on device "${device}"`,
    );
  }

  /** The unit's output, or undefined when the runtime says it has no such container. */
  async #openUnit(
    unit: ActualUnit,
    request: LogRequest,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Buffer> | undefined> {
    const iterator = this.#options.runtime
      .logs(unit.id, {
        follow: request.follow,
        signal,
        ...(request.container !== undefined ? { container: request.container } : {}),
        ...(request.tail !== undefined ? { tail: request.tail } : {}),
      })
      [Symbol.asyncIterator]();
    const first = iterator.next();
    const early = await Promise.race([
      first.then(
        () => 'read' as const,
        (error: unknown) => error,
      ),
      delay(FIRST_OUTPUT_MS).then(() => 'waiting' as const),
    ]);
    if (early instanceof UnitNotFoundError) return undefined;
    if (early !== 'read' && early !== 'waiting') throw early;
    return (async function* () {
      try {
        let next = await first;
        while (!next.done) {
          yield Buffer.from(next.value, 'utf8');
          next = await iterator.next();
        }
      } finally {
        await iterator.return?.();
      }
    })();
  }
}

function notFound(message: string): { error: { code: number; reason: string; message: string } } {
  return { error: { code: 404, reason: 'NotFound', message } };
}

async function* once(text: string): AsyncIterable<Buffer> {
  yield Buffer.from(text, 'utf8');
}
