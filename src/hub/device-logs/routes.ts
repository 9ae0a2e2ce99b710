/**
 * The log endpoints (`outpost logs`):
 *
 *   GET  /apis/outpost.dev/v1alpha1/namespaces/NS/workloads/NAME/log?device=D[&container=C][&tailLines=N][&follow=true][&previous=true|&run=N]
 *        a person's request, authorised as the `workloads/log` subresource (verb get) in NS, as
 *        `pods/log` is in Kubernetes: text/plain output, or a Status (404 unknown device, workload or
 *        placement, 504 when the agent does not answer). A cron Workload's runs: `run=N` reads run N,
 *        `previous=true` the newest finished run (as the agent last reported its runs); the answer
 *        then carries `Outpost-Cron-Run: {"run","phase","exitCode",...}` (JSON) from that report
 *   GET  /agent/v1/devices/D/log-requests          the agent's long poll: `{"items":[LogRequest...]}`
 *   POST /agent/v1/devices/D/log-requests/ID       the agent's answer: text/plain output (chunked, for
 *        follow) piped to the person, or an application/json Status the person gets instead
 *
 * The agent endpoints are allowed to device D only (DEVICE_RULES.paths).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CronRunStatus, Mailbox } from '../../api/index.ts';
import { ApiError, errors, type ObjectService, parse, queryBool } from '../kube-api/index.ts';
import { type LogAnswer, LogRendezvous, type LogRendezvousOptions } from './rendezvous.ts';

/** Options of {@link registerDeviceLogs}. */
export type DeviceLogsOptions = LogRendezvousOptions;

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** An agent's error answer is a small Status. */
const MAX_ERROR_BYTES = 64 * 1024;

interface LogQuery {
  device?: string;
  container?: string;
  tailLines?: string;
  follow?: string;
  previous?: string;
  run?: string;
}

type CronRun = CronRunStatus;

/** Registers the log endpoints; returns the rendezvous (one per process). */
export function registerDeviceLogs(
  app: FastifyInstance,
  service: ObjectService,
  options: DeviceLogsOptions = {},
): LogRendezvous {
  const rendezvous = new LogRendezvous(options);
  const deviceKind = service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
  const workloadKind = service.registry.byKind('outpost.dev/v1alpha1', 'Workload')!;
  const mailboxKind = service.registry.byKind('outpost.dev/v1alpha1', 'Mailbox')!;

  app.get<{ Params: { namespace: string; name: string }; Querystring: LogQuery }>(
    '/apis/outpost.dev/v1alpha1/namespaces/:namespace/workloads/:name/log',
    async (request, reply) => {
      const { namespace, name } = request.params;
      const wanted = readQuery(request.query);
      const { device } = wanted;
      await service.get(deviceKind, undefined, device);
      await service.get(workloadKind, namespace, name);
      const stored = await service.get(mailboxKind, undefined, device).catch(() => undefined);
      const mailbox = stored ? (parse(stored) as Mailbox) : undefined;
      const placed = (mailbox?.spec?.objects ?? []).some(
        (entry) => entry.source.namespace === namespace && entry.source.workload === name,
      );
      if (!placed)
        throw new ApiError(
          404,
          'NotFound',
          `workload "${name}" in namespace "${namespace}" is not placed on device "${device}"`,
          { name, group: 'outpost.dev', kind: 'workloads' },
        );
      const run =
        wanted.previous || wanted.run !== undefined ? pickRun(mailbox!, namespace, name, wanted) : undefined;
      const gone = closedSignal(reply);
      try {
        await rendezvous.ask(
          device,
          {
            namespace,
            workload: name,
            follow: wanted.follow,
            ...(wanted.container !== undefined ? { container: wanted.container } : {}),
            ...(wanted.tail !== undefined ? { tail: wanted.tail } : {}),
            ...(run ? { run: run.run } : wanted.run !== undefined ? { run: wanted.run } : {}),
          },
          gone,
          (answer) => relay(answer, reply, gone, run ? { 'outpost-cron-run': JSON.stringify(run) } : {}),
        );
      } catch (error) {
        // Nobody is left to tell.
        if (!gone.aborted) throw error;
        if (!reply.sent) reply.hijack();
      }
      return reply;
    },
  );

  app.get<{ Params: { device: string } }>(
    '/agent/v1/devices/:device/log-requests',
    async (request, reply) => {
      const items = await rendezvous.poll(request.params.device, closedSignal(reply));
      return reply.type('application/json').send(JSON.stringify({ items }));
    },
  );

  // Its own scope: the upload is read as a stream, not parsed (a followed log never ends).
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    scope.post<{ Params: { device: string; id: string } }>(
      '/agent/v1/devices/:device/log-requests/:id',
      // A followed log's body never ends: out of the hub's body deadline (src/hub/http/connection-limits.ts).
      { config: { endlessBody: true } },
      async (request, reply) => {
        const { device, id } = request.params;
        const answer: LogAnswer = isJson(request.headers['content-type'])
          ? { kind: 'error', error: await readErrorStatus(request) }
          : { kind: 'stream', body: request.raw };
        let personLeft = false;
        await rendezvous.answer(device, id, answer).catch((error: unknown) => {
          if (error instanceof ApiError && error.code === 404) throw error;
          personLeft = true;
        });
        if (answer.kind === 'stream' && (personLeft || !request.raw.readableEnded)) {
          // The person went away mid-stream: end the upload by closing its connection (answering
          // while the agent still sends would leave Node reading a followed log forever).
          reply.hijack();
          request.raw.socket.destroy();
          return reply;
        }
        return reply.type('application/json').send('{}');
      },
    );
  });
  return rendezvous;
}

/** Pipes the agent's answer to the person; resolves when the person's response is finished or gone. */
function relay(
  answer: LogAnswer,
  reply: FastifyReply,
  gone: AbortSignal,
  headers: Record<string, string>,
): Promise<void> {
  if (answer.kind === 'error') return Promise.reject(answer.error);
  const { body } = answer;
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-cache',
    ...headers,
  });
  out.flushHeaders();
  return new Promise<void>((resolve, reject) => {
    const stop = (error?: Error) => {
      body.unpipe(out);
      gone.removeEventListener('abort', onGone);
      if (error) reject(error);
      else resolve();
    };
    const onGone = () => stop(new Error('the client went away'));
    gone.addEventListener('abort', onGone, { once: true });
    // The upload ended (or its connection broke, e.g. the agent stopped): the person's output ends.
    body.once('end', () => {
      out.end();
      stop();
    });
    body.once('close', () => {
      if (!body.readableEnded) {
        out.end();
        stop(new Error('the upload broke off'));
      }
    });
    body.pipe(out, { end: false });
  });
}

/**
 * The run of a cron Workload's objects on the device that a `previous` or
 * `run` request means, from the runs the agent last reported: 400 when the
 * Workload has no schedule there, 404 when no such run is kept.
 */
function pickRun(
  mailbox: Mailbox,
  namespace: string,
  workload: string,
  wanted: { previous: boolean; run?: number },
): CronRun {
  const refs = new Set(
    (mailbox.spec?.objects ?? [])
      .filter((e) => e.source.namespace === namespace && e.source.workload === workload && e.cron)
      .map((e) => `${e.object.kind}/${e.object.metadata.namespace ?? ''}/${e.object.metadata.name ?? ''}`),
  );
  if (refs.size === 0)
    throw errors.badRequest(
      `workload "${workload}" in namespace "${namespace}" has no spec.cron: previous and run read a cron Workload's past runs`,
    );
  const runs = (mailbox.status?.objects ?? [])
    .filter((s) => refs.has(`${s.ref.kind}/${s.ref.namespace ?? ''}/${s.ref.name}`))
    .flatMap((s) => s.cron?.runs ?? []);
  const found =
    wanted.run !== undefined
      ? runs.find((r) => r.run === wanted.run)
      : runs.filter((r) => r.completionTime).sort((a, b) => b.run - a.run)[0];
  if (!found)
    throw new ApiError(
      404,
      'NotFound',
      wanted.run !== undefined
        ? `run ${wanted.run} of workload "${workload}" is not kept on the device (kept: ${runs.map((r) => r.run).join(', ') || 'none'})`
        : `workload "${workload}" has no finished run on the device yet`,
    );
  return found;
}

function readQuery(query: LogQuery): {
  device: string;
  container?: string;
  tail?: number;
  follow: boolean;
  previous: boolean;
  run?: number;
} {
  const device = query.device ?? '';
  if (!NAME.test(device)) throw errors.badRequest('a device name is required: ?device=NAME');
  let tail: number | undefined;
  if (query.tailLines !== undefined) {
    tail = Number(query.tailLines);
    if (!Number.isInteger(tail) || tail < 0)
      throw errors.badRequest(
        `tailLines must be a whole number >= 0, not ${JSON.stringify(query.tailLines)}`,
      );
  }
  const follow = queryBool(query.follow);
  const previous = queryBool(query.previous);
  let run: number | undefined;
  if (query.run !== undefined) {
    run = Number(query.run);
    if (!Number.isInteger(run) || run < 1)
      throw errors.badRequest(`run must be a whole number >= 1, not ${JSON.stringify(query.run)}`);
    if (previous) throw errors.badRequest('previous and run exclude each other');
  }
  return {
    device,
    follow,
    previous,
    ...(run !== undefined ? { run } : {}),
    ...(query.container ? { container: query.container } : {}),
    ...(tail !== undefined ? { tail } : {}),
  };
}

/** Aborts when the connection closes before the response is finished (the caller went away). */
function closedSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  // The response's 'close', not the socket's: a kept-alive socket serves many requests.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client went away'));
  });
  return controller.signal;
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

/** The Status an agent answered with, as the error the person gets. */
async function readErrorStatus(request: FastifyRequest): Promise<ApiError> {
  let text = '';
  for await (const chunk of request.raw) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_ERROR_BYTES) throw errors.tooLarge(MAX_ERROR_BYTES);
  }
  let status: { code?: unknown; reason?: unknown; message?: unknown } = {};
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    throw errors.badRequest('the error answer is not a JSON Status');
  }
  const code = typeof status.code === 'number' && status.code >= 400 && status.code < 600 ? status.code : 500;
  const reason = typeof status.reason === 'string' ? status.reason : 'InternalError';
  const message = typeof status.message === 'string' ? status.message : 'the device could not serve the logs';
  return new ApiError(code, reason, message);
}
