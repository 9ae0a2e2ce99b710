/**
 * The object endpoints (issue 17).
 *
 * The agent's, allowed to device D only (DEVICE_RULES.paths), authenticated by its certificate:
 *   POST /agent/v1/devices/D/uploads               {namespace, workload, path, size, sha256} →
 *        {state: 'present' | 'deduplicated', object} (nothing to send) or {state: 'open', id, offset}
 *   PUT  /agent/v1/devices/D/uploads/ID            header `upload-offset: N`, the bytes from N → {offset}
 *        (409 with the offset held when N is not it)
 *   POST /agent/v1/devices/D/uploads/ID/commit     → {object}; 422 HashMismatch (session discarded),
 *        409 when bytes are missing
 *
 * People's, authorised as the `devices/objects` subresource in namespace NS (a Role in NS grants
 * a team its namespace's objects of every device, and nothing of another namespace):
 *   GET    /apis/outpost.dev/v1alpha1/namespaces/NS/devices/D/objects[?prefix=P]   → {items}
 *   GET    /apis/outpost.dev/v1alpha1/namespaces/NS/devices/D/objects/WORKLOAD/PATH → the content
 *   DELETE /apis/outpost.dev/v1alpha1/namespaces/NS/devices/D/objects/WORKLOAD/PATH
 */
import type { FastifyInstance } from 'fastify';
import type { Mailbox } from '../../api/index.ts';
import { objectPathProblem } from '../../api/index.ts';
import { ApiError, checkNesting, errors, type ObjectService, parse } from '../kube-api/index.ts';
import { OffsetMismatchError, TooManyBytesError } from './sessions.ts';
import { type ObjectInfo, ObjectKeyConflictError } from './storage.ts';
import { HashMismatchError, IncompleteUploadError, QuotaExceededError, type Uploads } from './uploads.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const SHA256 = /^[0-9a-f]{64}$/;
/** The largest object: 64 GiB (a 50 MB file is the example of a large one). */
const MAX_SIZE = 64 * 1024 ** 3;

/** Registers the object endpoints over `uploads`. */
export function registerObjects(app: FastifyInstance, service: ObjectService, uploads: Uploads): void {
  const mailboxKind = service.registry.byKind('outpost.dev/v1alpha1', 'Mailbox')!;

  app.post<{ Params: { device: string } }>('/agent/v1/devices/:device/uploads', async (request, reply) => {
    const { device } = request.params;
    const body = readDeclaration(request.body);
    // Only under a workload placed on this device: a device writes nowhere but its own prefix, and
    // there only for the namespaces whose workloads it runs.
    const stored = await service.get(mailboxKind, undefined, device).catch(() => undefined);
    const mailbox = stored ? (parse(stored) as Mailbox) : undefined;
    const placed = (mailbox?.spec?.objects ?? []).some(
      (entry) => entry.source.namespace === body.namespace && entry.source.workload === body.workload,
    );
    if (!placed)
      throw errors.forbidden(
        `workload "${body.workload}" in namespace "${body.namespace}" is not placed on device "${device}": nothing of it may be uploaded`,
      );
    const key = `devices/${device}/${body.namespace}/${body.workload}/${body.path}`;
    const answer = await translate(() => uploads.open({ device, key, size: body.size, sha256: body.sha256 }));
    return reply.type('application/json').send(JSON.stringify(answer));
  });

  // Its own scope: a chunk is streamed to disk as it arrives, not parsed or held in memory.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
    scope.put<{ Params: { device: string; id: string } }>(
      '/agent/v1/devices/:device/uploads/:id',
      async (request, reply) => {
        const { device, id } = request.params;
        const session = await uploads.session(device, id);
        if (!session) throw new ApiError(404, 'NotFound', `no upload session "${id}": open the upload again`);
        const offset = Number(request.headers['upload-offset']);
        if (!Number.isSafeInteger(offset) || offset < 0)
          throw errors.badRequest('the upload-offset header must be a whole number of bytes');
        const held = await translate(() => uploads.append(session, offset, request.raw));
        return reply.type('application/json').send(JSON.stringify({ offset: held }));
      },
    );
  });

  app.post<{ Params: { device: string; id: string } }>(
    '/agent/v1/devices/:device/uploads/:id/commit',
    async (request, reply) => {
      const { device, id } = request.params;
      const session = await uploads.session(device, id);
      if (!session) throw new ApiError(404, 'NotFound', `no upload session "${id}": open the upload again`);
      const object = await translate(() => uploads.commit(session));
      return reply.type('application/json').send(JSON.stringify({ object }));
    },
  );

  const PEOPLE = '/apis/outpost.dev/v1alpha1/namespaces/:namespace/devices/:device/objects';
  type Params = { namespace: string; device: string; '*'?: string };

  app.get<{ Params: Params; Querystring: { prefix?: string } }>(PEOPLE, async (request, reply) => {
    const { namespace, device } = checkNames(request.params);
    const base = `devices/${device}/${namespace}/`;
    const prefix = request.query.prefix ? checkPath(request.query.prefix.replace(/\/$/, '')) : '';
    const items = (await uploads.storage.list(prefix ? `${base}${prefix}/` : base)).map((info) =>
      view(info, base),
    );
    // A prefix naming one object lists it alone.
    if (prefix && items.length === 0) {
      const one = await uploads.storage.head(`${base}${prefix}`);
      if (one) items.push(view(one, base));
    }
    return reply.type('application/json').send(JSON.stringify({ kind: 'ObjectList', items }));
  });

  app.get<{ Params: Params }>(`${PEOPLE}/*`, async (request, reply) => {
    const { namespace, device } = checkNames(request.params);
    const path = checkPath(request.params['*'] ?? '');
    const found = await uploads.storage.get(`devices/${device}/${namespace}/${path}`);
    if (!found) throw notFound(device, namespace, path);
    return reply
      .type('application/octet-stream')
      .header('content-length', found.info.size)
      .header('x-outpost-sha256', found.info.sha256)
      .header('last-modified', new Date(found.info.modified).toUTCString())
      .send(found.body);
  });

  app.delete<{ Params: Params }>(`${PEOPLE}/*`, async (request, reply) => {
    const { namespace, device } = checkNames(request.params);
    const path = checkPath(request.params['*'] ?? '');
    if (!(await uploads.delete(device, `devices/${device}/${namespace}/${path}`)))
      throw notFound(device, namespace, path);
    return reply
      .type('application/json')
      .send(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success' }));
  });
}

/** An object as people see it: its path below the device's namespace folder. */
function view(info: ObjectInfo, base: string) {
  return { path: info.key.slice(base.length), size: info.size, sha256: info.sha256, modified: info.modified };
}

function notFound(device: string, namespace: string, path: string): ApiError {
  return new ApiError(
    404,
    'NotFound',
    `no object "${path}" of device "${device}" in namespace "${namespace}"`,
  );
}

function checkNames(params: { namespace: string; device: string }): { namespace: string; device: string } {
  if (!NAME.test(params.namespace)) throw errors.badRequest(`bad namespace "${params.namespace}"`);
  if (!NAME.test(params.device)) throw errors.badRequest(`bad device name "${params.device}"`);
  return params;
}

function checkPath(path: string): string {
  const problem = objectPathProblem(path);
  if (problem) throw invalidPath('path', path, problem);
  return path;
}

function invalidPath(field: string, value: unknown, problem: string): ApiError {
  return errors.invalid({ group: 'outpost.dev', kind: 'Upload' }, String(field), [
    { reason: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value)}: ${problem}` },
  ]);
}

interface Declaration {
  namespace: string;
  workload: string;
  path: string;
  size: number;
  sha256: string;
}

/** The agent's declaration of one file: every field checked, the path strictly. */
function readDeclaration(raw: unknown): Declaration {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw)) as Record<string, unknown>;
  } catch {
    throw errors.badRequest('the body must be a JSON object');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw errors.badRequest('the body must be a JSON object');
  checkNesting(body, 'the request body');
  for (const field of ['namespace', 'workload'] as const)
    if (typeof body[field] !== 'string' || !NAME.test(body[field] as string))
      throw invalidPath(field, body[field], 'must be a lower-case DNS name');
  const problem = objectPathProblem(body.path);
  if (problem) throw invalidPath('path', body.path, problem);
  if (
    typeof body.size !== 'number' ||
    !Number.isSafeInteger(body.size) ||
    body.size < 0 ||
    body.size > MAX_SIZE
  )
    throw invalidPath('size', body.size, `must be a whole number of bytes up to ${MAX_SIZE}`);
  if (typeof body.sha256 !== 'string' || !SHA256.test(body.sha256))
    throw invalidPath('sha256', body.sha256, 'must be 64 lower-case hex digits');
  return body as unknown as Declaration;
}

/** The protocol's errors as Statuses. */
async function translate<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof OffsetMismatchError)
      throw new ApiError(409, 'Conflict', error.message, {
        causes: [{ reason: 'UploadOffset', message: String(error.held), field: 'offset' }],
      });
    if (error instanceof IncompleteUploadError)
      throw new ApiError(409, 'Conflict', error.message, {
        causes: [{ reason: 'UploadOffset', message: String(error.held), field: 'offset' }],
      });
    if (error instanceof TooManyBytesError) throw new ApiError(413, 'RequestEntityTooLarge', error.message);
    if (error instanceof HashMismatchError) throw new ApiError(422, 'HashMismatch', error.message);
    if (error instanceof QuotaExceededError) throw new ApiError(403, 'QuotaExceeded', error.message);
    if (error instanceof ObjectKeyConflictError) throw new ApiError(409, 'Conflict', error.message);
    throw error;
  }
}
