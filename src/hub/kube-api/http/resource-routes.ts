/**
 * The resource URLs of every kind as one route group: `/api/v1/...` and `/apis/GROUP/VERSION/...`
 * with get, list, watch, create, update, patch, delete and deletecollection, and the `status`
 * subresource, answered by the instance's `objectService`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import YAML from 'yaml';
import { apiVersionOf, type KindDefinition } from '../../../api/index.ts';
import type { StoredObject } from '../../../store/index.ts';
import { ApiError, errors } from '../errors.ts';
import {
  type ObjectService,
  objectMatcher,
  PATCH_CONTENT_TYPES,
  parse,
  type WriteOptions,
} from '../service/index.ts';
import { negotiateFormat, type ResponseFormat } from './negotiation.ts';
import { queryBool } from './parse-bool.ts';
import { checkApiVersion, decodeBody, decodeObjectBody, mediaType } from './request-body.ts';
import { parseResourcePath, type ResourceRequest } from './request-info.ts';
import {
  deleteOptionsOf,
  dryRunOf,
  fieldManagerOf,
  fieldValidationOf,
  listQueryOf,
  type Query,
} from './request-options.ts';
import {
  FUTURE_REVISION_WAIT_MS,
  readVersionOf,
  timeoutSecondsOf,
  waitForRevision,
} from './resource-version.ts';
import { routePlugin } from './shared-plugin.ts';
import { patchToStorage, presentStored, storageOf, toStorage } from './stored-as.ts';
import { type IncludeObject, toTable } from './table.ts';
import { warningHeaderValues } from './warning-header.ts';
import { streamWatch, type WatchStreamOptions } from './watch.ts';
import { WatchLimiter } from './watch-limits.ts';

/** Options of {@link resourceRoutes}. */
export interface ResourceRoutesOptions {
  /** Bookmarks and slow-watcher limits of watches. @default the stream's own defaults */
  readonly watch?: WatchStreamOptions;
  /**
   * How long a read (get, list, watch) waits for a resourceVersion beyond the head before its 504.
   * @default FUTURE_REVISION_WAIT_MS (3 s, the apiserver's)
   */
  readonly futureRevisionWaitMs?: number;
  /** Watches one device may have open at once; more are a 429. @default 16 */
  readonly maxWatchesPerDevice?: number;
}

/**
 * The resource routes, an encapsulated plugin: register it after `objectServicePlugin`
 * (fastify refuses it at load otherwise, naming the missing `objectService`).
 */
export const resourceRoutes = routePlugin<ResourceRoutesOptions>(
  'resource-routes',
  async (app, options) => {
    const service = app.objectService;
    const watchOptions = options.watch ?? {};
    const waitMs = options.futureRevisionWaitMs ?? FUTURE_REVISION_WAIT_MS;
    const deviceWatches = new WatchLimiter(options.maxWatchesPerDevice ?? 16);
    const handler =
      (group: (request: FastifyRequest) => { group: string; version: string; rest: string }) =>
      async (request: FastifyRequest, reply: FastifyReply) => {
        const { group: g, version, rest } = group(request);
        const target = parseResourcePath(service.registry, g, version, rest);
        return dispatch(service, target, request, reply, { watch: watchOptions, waitMs, deviceWatches });
      };
    const core = handler((request) => ({
      group: '',
      version: 'v1',
      rest: (request.params as { '*': string })['*'],
    }));
    const named = handler((request) => {
      const params = request.params as { group: string; version: string; '*': string };
      return { group: params.group, version: params.version, rest: params['*'] };
    });
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
    app.route({ method: [...methods], url: '/api/v1/*', handler: core });
    app.route({ method: [...methods], url: '/apis/:group/:version/*', handler: named });
  },
  { decorators: ['objectService'] },
);

async function dispatch(
  service: ObjectService,
  target: ResourceRequest,
  request: FastifyRequest,
  reply: FastifyReply,
  limits: { watch: WatchStreamOptions; waitMs: number; deviceWatches: WatchLimiter },
): Promise<unknown> {
  const { watch: watchOptions, waitMs } = limits;
  const { def, namespace, name, subresource } = target;
  // A kind stored as another (events.k8s.io Events) reads and writes the stored kind; answers are converted back.
  const stored = storageOf(def);
  const query = request.query as Query;
  const format = negotiateFormat(request.headers.accept);
  const includeObject = (query.includeObject as IncludeObject | undefined) ?? 'Metadata';
  const warnings: string[] = [];
  const send = (object: StoredObject, code = 200) => {
    // Headers must be set before the body goes out: warnings gathered by the write travel with the answer.
    if (warnings.length > 0) reply.header('warning', warningHeaderValues(warnings));
    return sendObject(reply, def, presentStored(def, object), format, includeObject, code);
  };
  reply.header('cache-control', 'no-cache, private');
  const writeOptions = (): WriteOptions => ({
    dryRun: dryRunOf(query),
    fieldManager: fieldManagerOf(query, request.headers['user-agent']),
    fieldValidation: fieldValidationOf(query),
    warnings,
    // Admission checks that weigh who asks (RBAC escalation) see the authenticated caller.
    requester: request.identity,
  });

  switch (request.method) {
    case 'GET': {
      const watching = target.watchPath || queryBool(query.watch);
      if (name && !watching) {
        await waitForRevision(service, readVersionOf(query, 'get').revision, clientGone(reply), waitMs);
        return send(await service.get(stored, namespace, name));
      }
      const listQuery = listQueryOf(query, name, def);
      // Everything a watch could refuse is checked before its stream starts: once the 200 is out,
      // an error can only end the stream.
      objectMatcher(stored, listQuery);
      const version = readVersionOf(query, watching ? 'watch' : 'list');
      const timeoutSeconds = watching ? timeoutSecondsOf(query) : undefined;
      if (watching) {
        // A device's share of watches is taken before it waits for anything, given back when its stream closes.
        const device = request.identity?.device;
        const release = device ? limits.deviceWatches.acquire(device) : () => {};
        reply.raw.once('close', release);
        try {
          await waitForRevision(service, version.revision, clientGone(reply), waitMs);
        } catch (error) {
          release();
          throw error;
        }
        reply.hijack();
        try {
          await streamWatch(
            service,
            stored,
            namespace,
            {
              ...listQuery,
              resourceVersion: query.resourceVersion,
              allowWatchBookmarks: queryBool(query.allowWatchBookmarks),
              sendInitialEvents: queryBool(query.sendInitialEvents),
              timeoutSeconds,
            },
            { kind: format, includeObject, as: def },
            reply.raw,
            watchOptions,
          );
        } catch (error) {
          endHijacked(reply, error);
        }
        return reply;
      }
      await waitForRevision(service, version.revision, clientGone(reply), waitMs);
      const exact = version.match === 'Exact' ? { revision: version.revision } : {};
      const list = await service.list(stored, namespace, { ...listQuery, ...exact });
      return sendList(reply, def, list, format, includeObject);
    }
    case 'POST': {
      if (name)
        throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
      const decoded = decodeObjectBody(request);
      checkApiVersion(def, decoded);
      const body = toStorage(def, decoded);
      // Decoded for this call and used by nothing else: the service need not copy it.
      const created = await service.create(stored, namespace, body, { ...writeOptions(), borrowBody: true });
      return send(created, 201);
    }
    case 'PUT': {
      if (!name)
        throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
      const decoded = decodeObjectBody(request);
      checkApiVersion(def, decoded);
      const body = toStorage(def, decoded);
      return send(
        await service.update(
          stored,
          namespace,
          name,
          body,
          { ...writeOptions(), borrowBody: true },
          subresource,
        ),
      );
    }
    case 'PATCH': {
      if (!name)
        throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
      const contentType = mediaType(request.headers['content-type']);
      const type = PATCH_CONTENT_TYPES[contentType];
      if (!type) {
        throw errors.unsupportedMediaType(
          `the body of the request was in an unknown format - accepted media types include: ${Object.keys(PATCH_CONTENT_TYPES).join(', ')}`,
        );
      }
      if (type === 'apply' && !query.fieldManager) {
        throw errors.invalid(def, name, [
          {
            reason: 'FieldValueRequired',
            field: 'fieldManager',
            message: 'Required value: is required for apply patch',
          },
        ]);
      }
      const patch = patchToStorage(def, type, decodeBody(request));
      const existed = type === 'apply' ? (await service.find(stored, namespace, name)) !== undefined : true;
      const patched = await service.patch(
        stored,
        namespace,
        name,
        type,
        patch,
        { ...writeOptions(), force: queryBool(query.force) },
        subresource,
      );
      return send(patched, existed ? 200 : 201);
    }
    case 'DELETE': {
      const options = deleteOptionsOf(request, query);
      if (name) return send(await service.delete(stored, namespace, name, options));
      const deleted = await service.deleteCollection(
        stored,
        namespace,
        listQueryOf(query, undefined, def),
        options,
      );
      return sendList(
        reply,
        def,
        { items: deleted, revision: await service.currentRevision() },
        format,
        includeObject,
      );
    }
    default:
      throw errors.methodNotAllowed(`method ${request.method} is not allowed`);
  }
}

/** A signal that aborts when the client goes away before its answer is complete. */
function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * Ends a hijacked answer (a watch) that failed: with its Status while nothing was sent yet (the
 * error handler no longer can), else by closing the stream, which the client sees as its end.
 */
function endHijacked(reply: FastifyReply, error: unknown): void {
  const response = reply.raw;
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (!(error instanceof ApiError)) reply.log.error({ err: error }, 'watch failed');
  const status = (error instanceof ApiError ? error : errors.internal()).toStatus();
  response.writeHead(status.code, { 'content-type': 'application/json' });
  response.end(JSON.stringify(status));
}

function sendObject(
  reply: FastifyReply,
  def: KindDefinition,
  stored: StoredObject,
  format: ResponseFormat,
  includeObject: IncludeObject,
  code: number,
): FastifyReply {
  reply.code(code);
  if (format === 'table') {
    const object = parse(stored);
    return reply
      .type('application/json')
      .send(
        JSON.stringify(
          toTable(def, [object], { includeObject, resourceVersion: object.metadata.resourceVersion }),
        ),
      );
  }
  if (format === 'yaml') return reply.type('application/yaml').send(YAML.stringify(parse(stored)));
  return reply.type('application/json').send(stored.value);
}

function sendList(
  reply: FastifyReply,
  def: KindDefinition,
  list: { items: StoredObject[]; revision: number; continue?: string },
  format: ResponseFormat,
  includeObject: IncludeObject,
): FastifyReply {
  const metadata: Record<string, string> = { resourceVersion: String(list.revision) };
  if (list.continue) metadata.continue = list.continue;
  const items = def.storedAs ? list.items.map((item) => presentStored(def, item)) : list.items;
  if (format === 'table') {
    const table = toTable(def, items.map(parse), {
      includeObject,
      resourceVersion: metadata.resourceVersion,
      continue: list.continue,
    });
    return reply.type('application/json').send(JSON.stringify(table));
  }
  const apiVersion = apiVersionOf(def);
  if (format === 'yaml') {
    return reply
      .type('application/yaml')
      .send(YAML.stringify({ apiVersion, kind: `${def.kind}List`, metadata, items: items.map(parse) }));
  }
  // Stored values are already JSON: the list is assembled without parsing them.
  let body = `{"kind":"${def.kind}List","apiVersion":"${apiVersion}","metadata":${JSON.stringify(metadata)},"items":[`;
  for (let i = 0; i < items.length; i++) body += (i === 0 ? '' : ',') + items[i]!.value;
  return reply.type('application/json').send(`${body}]}`);
}
