import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import YAML from 'yaml';
import { apiVersionOf, type KindDefinition, type KubeObject } from '../../api/index.ts';
import type { StoredObject } from '../../store/index.ts';
import { errors } from './errors.ts';
import type { ListQuery } from './list-filter.ts';
import { negotiateFormat, type ResponseFormat } from './negotiation.ts';
import { objectKey } from './object-meta.ts';
import { type DeleteOptions, type ObjectService, parse, type WriteOptions } from './object-service.ts';
import { PATCH_CONTENT_TYPES } from './patching.ts';
import {
  decodeKubernetesProtobuf,
  KUBERNETES_PROTOBUF,
  ProtobufMalformedError,
  ProtobufUnsupportedError,
} from './protobuf.ts';
import { parseResourcePath, type ResourceRequest } from './request-info.ts';
import { fieldSelectorToStorage, patchToStorage, presentStored, storageOf, toStorage } from './stored-as.ts';
import { type IncludeObject, toTable } from './table.ts';
import { streamWatch, type WatchStreamOptions } from './watch.ts';

type Query = Record<string, string | undefined>;

export interface ResourceRoutesOptions {
  readonly service: ObjectService;
  readonly watch?: WatchStreamOptions;
}

/**
 * The resource URLs of every kind: `/api/v1/...` and `/apis/GROUP/VERSION/...`
 * with get, list, watch, create, update, patch, delete and deletecollection,
 * and the `status` subresource.
 */
export function registerResourceRoutes(app: FastifyInstance, options: ResourceRoutesOptions): void {
  const { service } = options;
  const handler =
    (group: (request: FastifyRequest) => { group: string; version: string; rest: string }) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      const { group: g, version, rest } = group(request);
      const target = parseResourcePath(service.registry, g, version, rest);
      return dispatch(service, target, request, reply, options.watch ?? {});
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
}

async function dispatch(
  service: ObjectService,
  target: ResourceRequest,
  request: FastifyRequest,
  reply: FastifyReply,
  watchOptions: WatchStreamOptions,
): Promise<unknown> {
  const { def, namespace, name, subresource } = target;
  // A kind stored as another (events.k8s.io Events) reads and writes the stored kind; answers are converted back.
  const stored = storageOf(def);
  const query = request.query as Query;
  const format = negotiateFormat(request.headers.accept);
  const includeObject = (query.includeObject as IncludeObject | undefined) ?? 'Metadata';
  const warnings: string[] = [];
  const send = (object: StoredObject, code = 200) => {
    // Headers must be set before the body goes out: warnings gathered by the write travel with the answer.
    if (warnings.length > 0)
      reply.header(
        'warning',
        warnings.map((text) => `299 - ${JSON.stringify(text)}`),
      );
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
      if (name && !target.watchPath && !isTrue(query.watch))
        return send(await service.get(stored, namespace, name));
      const listQuery = listQueryOf(query, name, def);
      if (target.watchPath || isTrue(query.watch)) {
        reply.hijack();
        await streamWatch(
          service,
          stored,
          namespace,
          {
            ...listQuery,
            resourceVersion: query.resourceVersion,
            allowWatchBookmarks: isTrue(query.allowWatchBookmarks),
            sendInitialEvents: isTrue(query.sendInitialEvents),
            timeoutSeconds: query.timeoutSeconds ? Number(query.timeoutSeconds) : undefined,
          },
          { kind: format, includeObject, as: def },
          reply.raw,
          watchOptions,
        );
        return reply;
      }
      const list = await service.list(stored, namespace, listQuery);
      return sendList(reply, def, list, format, includeObject);
    }
    case 'POST': {
      if (name)
        throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
      const body = toStorage(def, decodeObjectBody(request));
      // Decoded for this call and used by nothing else: the service need not copy it.
      const created = await service.create(stored, namespace, body, { ...writeOptions(), borrowBody: true });
      return send(created, 201);
    }
    case 'PUT': {
      if (!name)
        throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
      const body = toStorage(def, decodeObjectBody(request));
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
      const existed =
        type === 'apply' ? (await service.store.get(objectKey(stored, namespace, name))) !== undefined : true;
      const patched = await service.patch(
        stored,
        namespace,
        name,
        type,
        patch,
        { ...writeOptions(), force: isTrue(query.force) },
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
        { items: deleted, revision: await service.store.currentRevision() },
        format,
        includeObject,
      );
    }
    default:
      throw errors.methodNotAllowed(`method ${request.method} is not allowed`);
  }
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

/** The media types an object body (create, update) may have; a patch type or anything else is a 415. */
const OBJECT_MEDIA_TYPES = new Set(['application/json', 'application/yaml', KUBERNETES_PROTOBUF]);

/** The object in a create or update body: JSON, YAML or Kubernetes protobuf; anything else is a 415. */
export function decodeObjectBody(request: FastifyRequest): KubeObject {
  const type = mediaType(request.headers['content-type']);
  if (!OBJECT_MEDIA_TYPES.has(type)) {
    throw errors.unsupportedMediaType(
      `the body of the request was in an unknown format - accepted media types include: ${[...OBJECT_MEDIA_TYPES].join(', ')}`,
    );
  }
  return decodeBody(request) as KubeObject;
}

function decodeBody(request: FastifyRequest): unknown {
  const raw = request.body;
  const type = mediaType(request.headers['content-type']);
  if (type === KUBERNETES_PROTOBUF) {
    if (!Buffer.isBuffer(raw) || raw.length === 0) throw errors.badRequest('the request body is empty');
    try {
      return decodeKubernetesProtobuf(raw);
    } catch (error) {
      if (error instanceof ProtobufUnsupportedError) throw errors.unsupportedMediaType(error.message);
      if (error instanceof ProtobufMalformedError) {
        throw errors.badRequest(`the request body could not be decoded: ${error.message}`);
      }
      throw error;
    }
  }
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : '';
  if (text.trim() === '') throw errors.badRequest('the request body is empty');
  if (type.includes('protobuf') || type.includes('cbor')) {
    throw errors.unsupportedMediaType(
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, ${KUBERNETES_PROTOBUF}`,
    );
  }
  try {
    if (type.endsWith('yaml')) {
      const documents = YAML.parseAllDocuments(text);
      if (documents.length !== 1) throw new Error('expected exactly one YAML document');
      const document = documents[0]!;
      if (document.errors.length > 0) throw document.errors[0]!;
      return document.toJS();
    }
    return JSON.parse(text);
  } catch (error) {
    throw errors.badRequest(
      `the request body could not be decoded: ${withoutQuotedBody((error as Error).message.split('\n')[0]!)}`,
    );
  }
}

/**
 * V8's JSON.parse messages quote the text around the error (`Unexpected token 'x', "...": is not
 * valid JSON`): a body is never echoed, since it may hold secret data.
 */
function withoutQuotedBody(message: string): string {
  return message.endsWith('is not valid JSON') ? 'unexpected character (not valid JSON)' : message;
}

function mediaType(header: string | undefined): string {
  return (header ?? 'application/json').split(';')[0]!.trim().toLowerCase();
}

function listQueryOf(query: Query, name: string | undefined, def: KindDefinition): ListQuery {
  const limit = query.limit ? Number(query.limit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0))
    throw errors.badRequest(`limit: Invalid value: "${query.limit}"`);
  const nameSelector = name ? `metadata.name=${name}` : undefined;
  const fieldSelector =
    [fieldSelectorToStorage(def, query.fieldSelector), nameSelector].filter((part) => part).join(',') ||
    undefined;
  return { labelSelector: query.labelSelector, fieldSelector, limit, continue: query.continue || undefined };
}

function deleteOptionsOf(request: FastifyRequest, query: Query): DeleteOptions {
  let body: {
    propagationPolicy?: string;
    preconditions?: { uid?: string; resourceVersion?: string };
    dryRun?: string[];
    orphanDependents?: boolean;
  } = {};
  const raw = request.body;
  if ((Buffer.isBuffer(raw) && raw.length > 0) || (typeof raw === 'string' && raw.length > 0)) {
    body = decodeBody(request) as typeof body;
  }
  let policy = query.propagationPolicy ?? body.propagationPolicy;
  if (!policy && (query.orphanDependents === 'true' || body.orphanDependents === true)) policy = 'Orphan';
  if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw errors.badRequest(
      `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
    );
  }
  const options: DeleteOptions = {
    dryRun: dryRunOf(query) || (body.dryRun ?? []).includes('All'),
    ...(policy ? { propagationPolicy: policy as DeleteOptions['propagationPolicy'] } : {}),
    ...(body.preconditions ? { preconditions: body.preconditions } : {}),
  };
  return options;
}

function dryRunOf(query: Query): boolean {
  const value = query.dryRun;
  if (value === undefined || value === '') return false;
  if (value !== 'All')
    throw errors.badRequest(`dryRun: Unsupported value: "${value}": supported values: "All"`);
  return true;
}

function fieldValidationOf(query: Query): WriteOptions['fieldValidation'] {
  const value = query.fieldValidation ?? 'Warn';
  if (value !== 'Strict' && value !== 'Warn' && value !== 'Ignore') {
    throw errors.badRequest(
      `fieldValidation: Unsupported value: "${value}": supported values: "Ignore", "Warn", "Strict"`,
    );
  }
  return value;
}

/** The field manager: the parameter, else the User-Agent's program name, as the apiserver derives it. */
function fieldManagerOf(query: Query, userAgent: string | undefined): string {
  const manager = query.fieldManager ?? (userAgent ?? 'unknown').split('/')[0]!;
  if (manager.length > 128) throw errors.badRequest('fieldManager: Too long: may not be longer than 128');
  return manager;
}

function isTrue(value: string | undefined): boolean {
  return value === 'true' || value === '1';
}
