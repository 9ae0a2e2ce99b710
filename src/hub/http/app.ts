import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import type { Logger } from 'pino';
import { ALL_KINDS, KindRegistry } from '../../api/index.ts';
import { DecryptionError, type Store, StoreUnavailableError } from '../../store/index.ts';
import { defaultAdmission } from '../admission/index.ts';
import {
  ALLOW_ALL,
  type Authenticator,
  type Authorizer,
  authorizeRequest,
  createRbacEscalationAdmission,
  type Identity,
  registerAccessReviews,
} from '../auth/index.ts';
import { type DeviceLogsOptions, registerDeviceLogs } from '../device-logs/index.ts';
import { type EnrollmentOptions, registerEnrollment } from '../enrollment/index.ts';
import {
  ApiError,
  errors,
  ObjectService,
  registerDiscovery,
  registerOpenApi,
  registerResourceRoutes,
  type WatchStreamOptions,
} from '../kube-api/index.ts';
import { registerTelemetry, type TelemetryHub } from '../telemetry/index.ts';
import { type HealthOptions, registerHealth } from './health.ts';
import { unauthorized } from './unauthorized.ts';

export type { HealthCheck, HealthOptions } from './health.ts';

/** The largest request body accepted, as the apiserver's limit (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface BuildHubOptions {
  readonly store: Store;
  readonly authenticate: Authenticator;
  /**
   * Decides every authenticated request (403 otherwise): RBAC and the device
   * rules (`authorizerOver` an `RbacIndex`). @default everything allowed
   */
  readonly authorize?: Authorizer;
  /** The Outpost version, for `/version`. */
  readonly version: string;
  /** TLS options for the server; plain HTTP when absent (tests with `inject()`). */
  readonly https?: { key: string; cert: string; ca: string };
  readonly logger?: Logger;
  readonly watch?: WatchStreamOptions;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /**
   * Whether the hub runs the garbage collector (`startControllers`): only then do Foreground and
   * Orphan deletes get their finalizers. @default false
   */
  readonly garbageCollector?: boolean;
  /** Serves device enrollment (`/enroll/...`) signing with this CA when given. */
  readonly enrollment?: EnrollmentOptions;
  /** Log requests relayed to devices' agents (`outpost logs`). @default 10 s answer timeout */
  readonly deviceLogs?: DeviceLogsOptions;
  /** Serves the devices' MQTT endpoint (`/mqtt`) and the telemetry and command endpoints when given. */
  readonly telemetry?: TelemetryHub;
  /** The checks of `/livez` and `/readyz` beyond `ping`. @default none */
  readonly health?: Omit<HealthOptions, 'logger'>;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

/** Builds the hub's HTTP application without listening; `app.inject()` drives it in tests. */
export function buildHub(options: BuildHubOptions): { app: FastifyInstance; service: ObjectService } {
  const registry = new KindRegistry(ALL_KINDS);
  const deviceKind = registry.byKind('outpost.dev/v1alpha1', 'Device')!;
  const service = new ObjectService({
    store: options.store,
    registry,
    now: options.now,
    // With RBAC, writes of roles and bindings may not grant more than their writer holds.
    admission: options.authorize
      ? [
          ...defaultAdmission(),
          createRbacEscalationAdmission({ authorizer: options.authorize, store: options.store }),
        ]
      : defaultAdmission(),
    garbageCollector: options.garbageCollector,
  });
  const serverOptions: FastifyServerOptions & {
    https?: object;
    http2?: boolean;
    http2SessionTimeout?: number;
    loggerInstance?: Logger;
  } = {
    bodyLimit: MAX_BODY_BYTES,
    return503OnClosing: false,
    keepAliveTimeout: 120_000,
    http2SessionTimeout: 120_000,
    // The router refuses a malformed percent-escape before any route or error handler runs; the
    // client still gets a Status.
    frameworkErrors: badUrl,
  };
  // Requests are not logged one by one: at thousands per second that is the hub's main cost.
  if (options.logger)
    serverOptions.loggerInstance = options.logger.child(
      {},
      { level: options.logger.level === 'debug' ? 'debug' : 'warn' },
    );
  else serverOptions.logger = false;
  if (options.https) {
    // Client certificates are requested but not required by TLS, so that a
    // request without one gets a 401 Status rather than a failed handshake.
    // HTTP/2 (as the apiserver) lets a device multiplex its watch, heartbeats and log answers on
    // one connection, which is what lets one hub hold tens of thousands of devices; HTTP/1.1 stays
    // for the clients that ask for it and for the MQTT WebSocket upgrade.
    serverOptions.https = {
      ...options.https,
      requestCert: true,
      rejectUnauthorized: false,
      allowHTTP1: true,
    };
    serverOptions.http2 = true;
  }
  const app = Fastify(serverOptions as FastifyServerOptions) as unknown as FastifyInstance;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_request, body, done) =>
    done(null, body),
  );

  app.addHook('onRequest', async (request) => {
    const identity = options.authenticate(request.raw);
    // Enrollment routes (`config.anonymous`) authenticate their callers themselves.
    if (!identity && !request.routeOptions.config.anonymous)
      throw await unauthorized(request.raw, service, deviceKind);
    if (identity) request.identity = identity;
    if (
      identity &&
      options.authorize &&
      !request.routeOptions.config.anonymous &&
      !request.routeOptions.config.authorizesItself
    )
      await authorizeRequest(options.authorize, request, identity, service);
  });

  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.code >= 500) request.log.error({ err: error }, 'request failed');
    if (reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
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

  registerHealth(app, { ...options.health, logger: options.logger });
  registerDiscovery(app, registry, { version: options.version });
  registerOpenApi(app, registry);
  registerResourceRoutes(app, { service, watch: options.watch });
  registerAccessReviews(app, options.authorize ?? ALLOW_ALL);
  if (options.enrollment) registerEnrollment(app, service, { ...options.enrollment, now: options.now });
  registerDeviceLogs(app, service, options.deviceLogs);
  if (options.telemetry)
    registerTelemetry(app, service, {
      telemetry: options.telemetry,
      authorize: options.authorize ?? ALLOW_ALL,
    });
  return { app, service };
}

/** Answers an error the router raised (a malformed percent-escape) with a 400 Status. */
function badUrl(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
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
