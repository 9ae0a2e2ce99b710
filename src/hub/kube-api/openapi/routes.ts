/**
 * The OpenAPI documents served as the apiserver serves them: Swagger 2.0 at `/openapi/v2`, and
 * OpenAPI 3.0 per group version at `/openapi/v3/api/v1` and `/openapi/v3/apis/GROUP/VERSION` with
 * the index at `/openapi/v3`. kubectl 1.32 reads v3 for `kubectl explain`, field validation and
 * strategic merge patch.
 */
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KindRegistry } from '../../../api/index.ts';
import {
  acceptsPlainJson,
  type JsonBody,
  jsonBody,
  parseAccept,
  pathNotFound,
  sendFailure,
  sendJson,
} from '../discovery/index.ts';
import { errors } from '../errors.ts';
import { routePlugin } from '../http/index.ts';
import { buildOpenApiDocuments } from './documents.ts';

/** Options of {@link openApiRoutes}. */
export interface OpenApiOptions {
  /** The kinds served. */
  readonly registry: KindRegistry;
}

/** Hashed v3 URLs never change content: cache them for a year, as the apiserver allows. */
const IMMUTABLE = 'public, immutable, max-age=31536000';

/**
 * The OpenAPI route group, an encapsulated plugin: `GET /openapi/v2`, `/openapi/v3` and
 * `/openapi/v3/*`. The documents are built once, when the plugin loads. A v3 document asked for
 * with a stale `?hash=` redirects (301) to the current one; with the current hash it may be cached
 * for good. JSON is the only format: a request accepting only protobuf answers `406`.
 */
export const openApiRoutes = routePlugin<OpenApiOptions>('openapi', async (app, { registry }) => {
  const documents = buildOpenApiDocuments(registry);
  const v2 = jsonBody(documents.v2);
  const v3 = new Map<string, { body: JsonBody; hash: string }>();
  for (const [path, document] of documents.v3) {
    const body = jsonBody(document);
    v3.set(path, { body, hash: createHash('sha512').update(body.bytes).digest('hex').toUpperCase() });
  }
  const index = jsonBody({
    paths: Object.fromEntries(
      [...v3].map(([path, { hash }]) => [path, { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` }]),
    ),
  });

  app.get('/openapi/v2', async (request, reply) => {
    if (!acceptsJson(request)) return notAcceptable(reply);
    return sendJson(request, reply, v2);
  });

  app.get('/openapi/v3', async (request, reply) => {
    if (!acceptsJson(request)) return notAcceptable(reply);
    return sendJson(request, reply, index);
  });

  app.get<{ Params: { '*': string }; Querystring: { hash?: string } }>(
    '/openapi/v3/*',
    async (request, reply) => {
      const path = request.params['*'];
      const entry = v3.get(path);
      if (entry === undefined) {
        return sendFailure(reply, pathNotFound());
      }
      if (!acceptsJson(request)) return notAcceptable(reply);
      const { hash } = request.query;
      if (hash !== undefined && hash !== entry.hash) {
        return reply.code(301).header('location', `/openapi/v3/${path}?hash=${entry.hash}`).send();
      }
      return sendJson(request, reply, entry.body, hash === undefined ? {} : { cacheControl: IMMUTABLE });
    },
  );
});

function acceptsJson(request: FastifyRequest): boolean {
  return parseAccept(request.headers.accept).some(acceptsPlainJson);
}

function notAcceptable(reply: FastifyReply): FastifyReply {
  return sendFailure(
    reply,
    errors.notAcceptable('only the following media types are accepted: application/json'),
  );
}
