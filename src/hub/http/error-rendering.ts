/**
 * Errors rendered as the apiserver renders them, as a shared plugin: whatever a route throws and
 * every unknown path answers a `Status` object with its code; an error the client did not cause
 * says nothing of its insides (it is logged instead).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DecryptionError, StoreUnavailableError } from '../../store/index.ts';
import { ApiError, errors, sharedPlugin } from '../kube-api/index.ts';

/** The largest request body accepted, as the apiserver's limit (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/**
 * The error handler and the not-found handler, shared: set on the registering instance, so that
 * every route group registered after it renders its errors the same way.
 */
export const errorRenderingPlugin = sharedPlugin('error-rendering', async (app) => {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.code >= 500) request.log.error({ err: error }, 'request failed');
    if (reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    // As the apiserver: a Status that says when to retry says it in the header clients read too.
    const retryAfter = apiError.details?.retryAfterSeconds;
    if (retryAfter !== undefined && retryAfter > 0) reply.header('retry-after', String(retryAfter));
    reply.code(apiError.code).type('application/json').send(JSON.stringify(apiError.toStatus()));
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .type('application/json')
      .send(
        JSON.stringify(
          new ApiError(
            404,
            'NotFound',
            `the server could not find the requested resource (${request.method} ${request.url.split('?')[0]})`,
          ).toStatus(),
        ),
      );
  });
});

/**
 * Answers an error the router raised (a malformed percent-escape) with a 400 Status: fastify's
 * `frameworkErrors` option, since the router refuses such a URL before any route or error handler
 * runs.
 */
export function badUrl(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  reply
    .code(400)
    .type('application/json')
    .send(JSON.stringify(errors.badRequest(error.message).toStatus()));
}

/** Maps anything thrown to the Status the client gets; unknown errors say nothing of their insides. */
function toApiError(error: FastifyError | Error): ApiError {
  if (error instanceof ApiError) return error;
  // Names the key and the stored key path, never the value: as the apiserver's "unable to transform key".
  if (error instanceof DecryptionError)
    return new ApiError(500, 'InternalError', `Internal error occurred: ${error.message}`);
  if (error instanceof StoreUnavailableError)
    return errors.unavailable(`storage is unavailable: ${error.message}`);
  const code = (error as FastifyError).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return errors.tooLarge(MAX_BODY_BYTES);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return errors.unsupportedMediaType(error.message);
  if (code === 'FST_ERR_BAD_URL' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return errors.badRequest(error.message);
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) return new ApiError(status, 'BadRequest', error.message);
  return errors.internal();
}
