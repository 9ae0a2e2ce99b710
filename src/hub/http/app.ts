import type { Http2SecureServer } from 'node:http2';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { ALL_KINDS, KindRegistry, type KubeObject, type ProfileSpec } from '../../api/index.ts';
import type { Store } from '../../store/index.ts';
import {
  createDeviceTopologyAdmission,
  createProfileReferenceAdmission,
  defaultAdmission,
  nodeOf,
  type TopologyNode,
} from '../admission/index.ts';
import {
  ALLOW_ALL,
  type Authenticator,
  type Authorizer,
  createRbacEscalationAdmission,
  registerAccessReviews,
} from '../auth/index.ts';
import { type DashboardOptions, dashboardRoutes } from '../dashboard/index.ts';
import { type DeviceLogsOptions, registerDeviceLogs } from '../device-logs/index.ts';
import { type EnrollmentOptions, registerEnrollment } from '../enrollment/index.ts';
import { EventRecorder, type EventRecorderOptions } from '../events/index.ts';
import {
  discoveryRoutes,
  ObjectService,
  objectServicePlugin,
  openApiRoutes,
  resourceRoutes,
  routePlugin,
  type WatchStreamOptions,
} from '../kube-api/index.ts';
import { type HubMetrics, metricsRoutes, requestMetricsPlugin } from '../metrics/index.ts';
import { registerObjects, type Uploads } from '../objects/index.ts';
import { registerTelemetry, type TelemetryHub } from '../telemetry/index.ts';
import { authenticationPlugin } from './authentication.ts';
import {
  allowEndlessBody,
  CONNECTION_LIMIT_DEFAULTS,
  type ConnectionLimits,
  limitConnections,
  serverTimeoutOptions,
} from './connection-limits.ts';
import { badUrl, errorRenderingPlugin, MAX_BODY_BYTES } from './error-rendering.ts';
import { type HealthOptions, healthRoutes } from './health.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's request body is a stream without end (a followed log): no body deadline. */
    endlessBody?: boolean;
  }
}

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
  /** How long a read waits for a resourceVersion beyond the head before its 504. @default 3000 */
  readonly futureRevisionWaitMs?: number;
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
  /** Serves data uploads from agents and object reads for people when given. @default none */
  readonly objects?: Uploads;
  /** The checks of `/livez` and `/readyz` beyond `ping`. @default none */
  readonly health?: Omit<HealthOptions, 'logger'>;
  /** Timeouts and per-certificate caps of connections (HTTPS only). @default CONNECTION_LIMIT_DEFAULTS */
  readonly connections?: ConnectionLimits;
  /** Watches one device may have open at once; more are a 429. @default 16 */
  readonly maxWatchesPerDevice?: number;
  /**
   * Builds the hub's Event recorder over the service (returned as `events`,
   * for the controllers; enrollment tells devices enrolled, approved, renewed).
   * @default none: no Events
   */
  readonly events?: Omit<EventRecorderOptions, 'service'>;
  /**
   * Counts every request in these metrics and serves them at `GET /metrics` (authorised as the
   * non-resource URL `/metrics`). @default no metrics, `/metrics` answers 404
   */
  readonly metrics?: HubMetrics;
  /** The web dashboard's files, served at `/ui/`. @default the package's `dist/ui` */
  readonly dashboard?: DashboardOptions;
}

/** What {@link buildHub} built. */
export interface BuiltHub {
  readonly app: FastifyInstance;
  readonly service: ObjectService;
  /** The Event recorder, when asked for (`events`). */
  readonly events?: EventRecorder;
}

/** Builds the hub's HTTP application without listening; `app.inject()` drives it in tests. */
export function buildHub(options: BuildHubOptions): BuiltHub {
  const registry = new KindRegistry(ALL_KINDS);
  const service = new ObjectService({
    store: options.store,
    registry,
    now: options.now,
    admission: [
      ...defaultAdmission(),
      createProfileReferenceAdmission({ deviceProfiles: () => deviceProfiles(options.store) }),
      createDeviceTopologyAdmission({ devices: () => deviceTopology(options.store) }),
      // With RBAC, writes of roles and bindings may not grant more than their writer holds.
      ...(options.authorize
        ? [createRbacEscalationAdmission({ authorizer: options.authorize, store: options.store })]
        : []),
    ],
    garbageCollector: options.garbageCollector,
  });
  const events = options.events && new EventRecorder({ ...options.events, service });
  const serverOptions: FastifyServerOptions & {
    https?: object;
    http2?: boolean;
    http2SessionTimeout?: number;
    loggerInstance?: Logger;
  } = {
    bodyLimit: MAX_BODY_BYTES,
    return503OnClosing: false,
    // Sessions' idle timers are limitConnections' (which closes idle sessions but not quiet watches).
    http2SessionTimeout: CONNECTION_LIMIT_DEFAULTS.idleTimeoutMs,
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
      // A client that sends no ClientHello is cut (the rest of the limits: limitConnections).
      ...serverTimeoutOptions(options.connections),
    };
    serverOptions.http2 = true;
  }
  const app = Fastify(serverOptions as FastifyServerOptions) as unknown as FastifyInstance;
  if (options.https) limitConnections(app.server as unknown as Http2SecureServer, options.connections);
  // A route whose body is endless by design (`config: { endlessBody: true }`) is out of the body deadline.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.routeOptions.config.endlessBody) allowEndlessBody(request.raw);
    done();
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_request, body, done) =>
    done(null, body),
  );

  // Shared capabilities first (they reach every group registered after them), then the route
  // groups, each an encapsulated plugin. fastify loads them in this order when the app is readied.
  void app.register(errorRenderingPlugin);
  // Before authentication, so that requests it refuses are counted too.
  if (options.metrics) void app.register(requestMetricsPlugin, { metrics: options.metrics, registry });
  void app.register(objectServicePlugin, { service });
  void app.register(authenticationPlugin, {
    authenticate: options.authenticate,
    authorize: options.authorize,
    audit: options.logger?.child({ component: 'audit' }),
  });
  void app.register(healthRoutes, { ...options.health, logger: options.logger });
  void app.register(discoveryRoutes, { registry, version: options.version });
  void app.register(openApiRoutes, { registry });
  void app.register(dashboardRoutes, options.dashboard ?? {});
  if (options.metrics) void app.register(metricsRoutes, { metrics: options.metrics });
  void app.register(resourceRoutes, {
    watch: options.watch,
    futureRevisionWaitMs: options.futureRevisionWaitMs,
    maxWatchesPerDevice: options.maxWatchesPerDevice,
  });
  const authorize = options.authorize ?? ALLOW_ALL;
  void app.register(routePlugin('access-reviews', async (scope) => registerAccessReviews(scope, authorize)));
  const { enrollment, telemetry } = options;
  if (enrollment)
    void app.register(
      routePlugin('enrollment', async (scope) =>
        registerEnrollment(scope, service, {
          ...enrollment,
          objectStorage: options.objects?.storage.location,
          now: options.now,
          events: events?.sink('outpost-enrollment'),
        }),
      ),
    );
  void app.register(
    routePlugin('device-logs', async (scope) => {
      registerDeviceLogs(scope, service, options.deviceLogs);
    }),
  );
  if (telemetry)
    void app.register(
      routePlugin('telemetry', async (scope) => registerTelemetry(scope, service, { telemetry, authorize })),
    );
  const { objects } = options;
  if (objects)
    void app.register(routePlugin('objects', async (scope) => registerObjects(scope, service, objects)));
  return events ? { app, service, events } : { app, service };
}

/** Every Device's declared profiles, read from the store (Devices are not encrypted). */
async function deviceProfiles(store: Store): Promise<Array<readonly ProfileSpec[]>> {
  const { items } = await store.list({ prefix: '/outpost.dev/devices/' });
  return items.map(
    (item) => (JSON.parse(item.value) as { spec?: { profiles?: ProfileSpec[] } }).spec?.profiles ?? [],
  );
}

/** Every Device's place in the nested network, read from the store. */
async function deviceTopology(store: Store): Promise<TopologyNode[]> {
  const { items } = await store.list({ prefix: '/outpost.dev/devices/' });
  return items.map((item) => nodeOf(JSON.parse(item.value) as KubeObject));
}
