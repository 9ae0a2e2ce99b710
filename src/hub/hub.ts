import type { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import {
  type CommitObserver,
  PostgresStore,
  SqliteStore,
  type Store,
  startCompactor,
} from '../store/index.ts';
import { type DataDirLock, lockDataDir } from '../util/index.ts';
import {
  authorizerOver,
  createAuthenticator,
  createUserTokenVerifier,
  DeviceIndex,
  ensureBootstrapPolicy,
  RbacIndex,
  refusingImpersonation,
} from './auth/index.ts';
import {
  type RunningControllers,
  type StartControllersOptions,
  startControllers,
} from './controllers/index.ts';
import { buildHub } from './http/index.ts';
import { ApiError, type ObjectService } from './kube-api/index.ts';
import { createControllerElector, type LeaderStatus } from './leader/index.ts';
import { DeliveryLag, HubMetrics, registerFleetMetrics, registerRolloutMetrics } from './metrics/index.ts';
import {
  FsObjectStorage,
  type ObjectQuota,
  parseS3Url,
  S3ObjectStorage,
  S3UploadSessions,
  s3ClientFor,
  Uploads,
} from './objects/index.ts';
import { loadOrCreatePki, shareCertificateAuthority, writeKubeconfig } from './pki/index.ts';
import { readinessChecks } from './readiness.ts';
import { encryptSecretsAtRest } from './secrets-at-rest.ts';
import { DeviceParentIndex, PlacedWorkloads, startTelemetry, type TelemetryHub } from './telemetry/index.ts';

export interface HubOptions {
  /** Where the hub keeps its database, certificates and admin kubeconfig. */
  readonly dataDir: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @default 6443 */
  readonly port?: number;
  /** `sqlite:PATH`; the default is `sqlite:DIR/outpost.db`. */
  readonly store?: string;
  /** SQLite durability. @default 'FULL' */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** SQLite commits on a writer thread (false: in the event loop). @default true */
  readonly sqliteWriterThread?: boolean;
  readonly version: string;
  readonly logger: Logger;
  /** How long history is kept for watches. @default 300_000 */
  readonly historyRetentionMs?: number;
  readonly bookmarkIntervalMs?: number;
  /** Key file for secrets at rest, shared by replicas. @default DIR/encryption.key, created when missing */
  readonly encryptionKeyFile?: string;
  /** Resources encrypted at rest (`secrets`, `workloads.outpost.dev`, ...). @default DEFAULT_ENCRYPTED_RESOURCES */
  readonly encryptResources?: readonly string[];
  /** Lifetime of the device certificates the hub signs. @default 30 days */
  readonly deviceCertLifetimeSeconds?: number;
  /** How long after expiry a device may renew with its old certificate. @default 30 days */
  readonly deviceRenewalGraceSeconds?: number;
  /**
   * The controllers' leader-election lease: a replica that stops renewing loses it after this
   * long (renew deadline and retry period are 10/15 and 2/15 of it, as client-go's defaults).
   * @default 15_000
   */
  readonly leaseDurationMs?: number;
  /**
   * An external MQTT broker (`mqtt://HOST:PORT`) the embedded one is bridged to: devices' telemetry,
   * status and acks go there, commands come from there. @default none (the embedded broker alone)
   */
  readonly mqttUrl?: string;
  /**
   * Also serve the embedded broker as MQTT over TLS on this port of `host` (0: a free one), client
   * certificates of the hub CA required: top-level gateways' Mosquitto bridges here. @default not served
   */
  readonly mqttTlsPort?: number;
  /** How long Events are kept after they last happened. @default 3_600_000 (1 h) */
  readonly eventTtlMs?: number;
  /**
   * Whether a namespace no DeviceBoundary names may place on no device (fail closed) instead of on
   * any. Every replica should be started alike: the one leading the controllers decides.
   * @default false
   */
  readonly requireDeviceBounds?: boolean;
  /** Each device's object storage quota. @default DEFAULT_OBJECT_QUOTA (1 GiB, 100,000 objects) */
  readonly objectQuota?: Partial<ObjectQuota>;
  /**
   * Where uploaded objects go: `s3://BUCKET[/PREFIX]?endpoint=URL&region=R` (credentials from the
   * AWS SDK's default chain). Upload sessions stay in the data dir. @default DIR/objects (filesystem)
   */
  readonly objects?: string;
}

export interface RunningHub {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly app: FastifyInstance;
  readonly service: ObjectService;
  /** Devices' MQTT endpoint, the latest-value table and commands. */
  readonly telemetry: TelemetryHub;
  /** This replica's part in the controllers' leader election. */
  leader(): LeaderStatus;
  /** What `GET /metrics` serves. */
  readonly metrics: HubMetrics;
  close(): Promise<void>;
}

/** Namespaces every hub has, as a Kubernetes cluster has `default`. */
const BUILT_IN_NAMESPACES = ['default', 'outpost-system'];

/**
 * Starts a hub: takes its data dir (refused while another live hub holds it,
 * taken over from a dead one), opens the store, creates or loads the PKI,
 * serves the API over HTTPS and writes `DIR/admin.kubeconfig`.
 * @throws DataDirLockedError when another hub runs with the data dir.
 */
export async function startHub(options: HubOptions): Promise<RunningHub> {
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  // Before anything is written: a second hub would rewrite admin.kubeconfig to its own port.
  const lock = await lockDataDir(options.dataDir, {
    file: 'hub.pid',
    what: 'hub',
    hint: 'stop it first, or give this hub a data dir of its own (--data-dir)',
  });
  try {
    return await serve(options, lock);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function serve(options: HubOptions, lock: DataDirLock): Promise<RunningHub> {
  const host = options.host ?? '127.0.0.1';
  // One registry per hub: tests run several hubs in one process.
  const metrics = new HubMetrics();
  // Secrets (and the kinds embedding them) are encrypted whatever engine holds them.
  const store = await encryptSecretsAtRest(await openStore(options, metrics.onCommit), {
    dataDir: options.dataDir,
    keyFile: options.encryptionKeyFile,
    resources: options.encryptResources,
  });
  // Replicas on one store share its CA, so that each accepts the certificates any other issued.
  await shareCertificateAuthority(store, options.dataDir);
  const pki = await loadOrCreatePki(options.dataDir, {
    hosts: [host, hostname()].filter((h) => h !== '0.0.0.0' && h !== '::'),
  });
  const shutdown = new AbortController();
  // Device certificates are checked against this index on every request, RBAC against the
  // other: both follow the store through the service, and are loaded before the hub listens.
  const devices = new DeviceIndex();
  const rbac = new RbacIndex();
  const authorize = authorizerOver(rbac);
  // People's bearer tokens are signed by the CA key (`outpost user token`): checked without a store read.
  const authenticate = createAuthenticator({ devices, userTokens: createUserTokenVerifier(pki.caCert) });
  // What `/readyz` waits for besides the store: the controllers' caches while this replica leads.
  let controllers: RunningControllers | undefined;
  let election: (() => LeaderStatus) | undefined;
  let closing = false;
  const readyz = readinessChecks({
    store,
    unsyncedCaches: () => {
      if (controllers) return controllers.manager.unsyncedInformers();
      const status = election?.();
      if (status?.leading) return ['the controllers (starting)'];
      // Until the Lease has been read, this replica does not know whether it runs the controllers.
      if (status?.holder === undefined) return ['the controllers (leader election undecided)'];
      return [];
    },
    shuttingDown: () => closing,
  });
  // Devices' MQTT (over WebSocket at /mqtt) is authenticated as their API requests are; it does
  // not implement impersonation, so an upgrade asking for it is not authenticated at all.
  // What each device may send up for, and where a connector's commands go: its Mailbox's sources.
  const placements = new PlacedWorkloads();
  // Which device is below which gateway: what a gateway's bridge may carry over MQTT over TLS.
  const parents = new DeviceParentIndex();
  const telemetry = await startTelemetry({
    authenticate: refusingImpersonation(authenticate),
    placements,
    parents,
    mqttUrl: options.mqttUrl,
    logger: options.logger,
    ...(options.mqttTlsPort === undefined
      ? {}
      : {
          tls: {
            host,
            port: options.mqttTlsPort,
            key: pki.serverKey,
            cert: pki.serverCert,
            ca: pki.caCert,
            track: (device, connection) => devices.track(device, connection),
          },
        }),
  });
  const { app, service, events } = buildHub({
    store,
    authenticate,
    telemetry,
    authorize,
    enrollment: {
      ca: pki.ca,
      deviceCertLifetimeSeconds: options.deviceCertLifetimeSeconds,
      renewalGraceSeconds: options.deviceRenewalGraceSeconds,
    },
    version: options.version,
    https: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert },
    logger: options.logger,
    watch: { bookmarkIntervalMs: options.bookmarkIntervalMs },
    // The leader runs the garbage collector (runControllers), so every replica marks Foreground / Orphan deletes.
    garbageCollector: true,
    health: { readyz },
    objects: uploadsOf(options),
    events: { logger: options.logger.child({ component: 'events' }), metrics: metrics.controllers },
    metrics,
  });
  const deviceKind = service.registry.byKind('outpost.dev/v1alpha1', 'Device')!;
  const mailboxKind = service.registry.byKind('outpost.dev/v1alpha1', 'Mailbox')!;
  const placementKind = service.registry.byKind('outpost.dev/v1alpha1', 'Placement')!;
  const fleetCaches = () => {
    if (!controllers) return undefined;
    const devices = controllers.manager.informer(deviceKind);
    const mailboxes = controllers.manager.informer(mailboxKind);
    const placementInformer = controllers.manager.informer(placementKind);
    if (!devices.hasSynced || !mailboxes.hasSynced || !placementInformer.hasSynced) return undefined;
    return { devices: devices.list(), mailboxes: mailboxes.list(), placements: placementInformer.list() };
  };
  registerRolloutMetrics(metrics, { caches: fleetCaches });
  registerFleetMetrics(metrics, {
    caches: fleetCaches,
    telemetry: () => ({ messages: telemetry.received, dropped: telemetry.dropped }),
  });
  const deliveryLag = new DeliveryLag(metrics.registry);
  await devices.start(service, { signal: shutdown.signal, logger: options.logger });
  // Every replica keeps its own RBAC index, so a new binding applies everywhere within a watch event.
  await rbac.start(service, { signal: shutdown.signal, logger: options.logger });
  await placements.start(service, { signal: shutdown.signal, logger: options.logger });
  await parents.start(service, { signal: shutdown.signal, logger: options.logger });
  await ensureNamespaces(service);
  await ensureBootstrapPolicy(service);
  startCompactor(store, { retentionMs: options.historyRetentionMs, signal: shutdown.signal });
  let listeningUrl: string | undefined;
  const elector = createControllerElector(service, {
    leaseDurationMs: options.leaseDurationMs,
    logger: options.logger,
    whileLeading: (signal) =>
      runControllers(
        {
          client: service,
          logger: options.logger,
          signal,
          telemetry: telemetry.latest,
          events,
          metrics: metrics.controllers,
          options: {
            eventTtl: { ttlMs: options.eventTtlMs },
            placement: { requireDeviceBounds: options.requireDeviceBounds ?? false },
            // Gateways' proxies let their children CONNECT to this URL only (known once listening).
            // Top-level gateways bridge to the hub's MQTT-over-TLS listener, else to its external broker.
            gateways: {
              hubUrl: () => listeningUrl,
              hubMqtt: options.mqttUrl,
              hubMqttTls: telemetry.tlsUrl,
              ca: pki.ca,
            },
          },
        },
        (running) => {
          controllers = running;
          running?.manager.informer(mailboxKind).addEventHandler(deliveryLag.handler());
        },
      ),
  });
  election = () => elector.status();
  const electing = elector.run(shutdown.signal);
  app.get('/debug/leader', async (_request, reply) => reply.type('application/json').send(elector.status()));
  const connections = trackConnections(app.server);
  // A fleet reconnecting after a restart arrives at once: a deeper accept queue (the kernel caps
  // it at net.core.somaxconn) holds connections instead of dropping SYNs into the clients' retries.
  await app.listen({ host, port: options.port ?? 6443, backlog: 4096 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `https://${urlHost}:${port}`;
  listeningUrl = url;
  const kubeconfigPath = join(options.dataDir, 'admin.kubeconfig');
  await writeKubeconfig(kubeconfigPath, {
    server: url,
    caCert: pki.caCert,
    clientCert: pki.adminCert,
    clientKey: pki.adminKey,
  });
  return {
    url,
    kubeconfigPath,
    app,
    service,
    telemetry,
    leader: () => elector.status(),
    metrics,
    async close() {
      // `/readyz` fails from now on, so that balancers stop sending requests while the hub stops.
      closing = true;
      shutdown.abort();
      // Controllers stop and the lease is handed back before the store closes (bounded: with the
      // database unreachable the release cannot happen, and the lease then expires by itself).
      await Promise.race([electing, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      // MQTT connections left the HTTP server's hands when they upgraded: closed here.
      await telemetry.close();
      // Events still queued are dropped (best effort); the write under way ends before the store closes.
      await events?.close();
      // Watches are endless responses: end them so that close() need not wait.
      for (const socket of connections) socket.destroy();
      await app.close();
      await store.close();
      await lock.release();
    },
  };
}

/** The server's open TLS connections (HTTP/1.1 and HTTP/2 alike), kept to be ended at shutdown. */
function trackConnections(server: EventEmitter): Set<TLSSocket> {
  const sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * Runs the hub's controllers while this replica holds the controllers' lease; resolves once they
 * stopped after `signal` aborted. `onRunning` is told of them, then of `undefined` once they stopped.
 */
async function runControllers(
  options: StartControllersOptions,
  onRunning: (controllers: RunningControllers | undefined) => void,
): Promise<void> {
  const running = startControllers(options);
  onRunning(running);
  try {
    await running.done;
  } finally {
    onRunning(undefined);
  }
}
async function openStore(options: HubOptions, onCommit: CommitObserver): Promise<Store> {
  const spec = options.store ?? `sqlite:${join(options.dataDir, 'outpost.db')}`;
  if (spec.startsWith('sqlite:'))
    return new SqliteStore({
      path: spec.slice('sqlite:'.length),
      synchronous: options.synchronous,
      writerThread: options.sqliteWriterThread,
      onCommit,
    });
  // Connects and creates or migrates the schema; several hubs may share the database.
  if (/^postgres(ql)?:\/\//.test(spec)) return PostgresStore.open({ url: spec, onCommit });
  throw new Error(
    `unsupported store ${JSON.stringify(spec)}: expected sqlite:PATH or postgres://USER@HOST:PORT/DB`,
  );
}

async function ensureNamespaces(service: ObjectService): Promise<void> {
  const def = service.registry.byKind('v1', 'Namespace')!;
  for (const name of BUILT_IN_NAMESPACES) {
    try {
      await service.create(
        def,
        undefined,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
        { fieldManager: 'outpost-hub' },
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.reason === 'AlreadyExists')) throw error;
    }
  }
}

/**
 * Committed objects and upload sessions: both under the data dir (the filesystem backend), or both
 * in the S3 bucket, which the hub's replicas share (a session opened through one replica goes on
 * through another).
 */
function uploadsOf(options: Pick<HubOptions, 'dataDir' | 'objects' | 'objectQuota'>): Uploads {
  const root = join(options.dataDir, 'objects');
  if (!options.objects)
    return new Uploads({ storage: new FsObjectStorage(root), root, quota: options.objectQuota });
  const location = parseS3Url(options.objects);
  const client = s3ClientFor(location);
  return new Uploads({
    storage: new S3ObjectStorage(location, client),
    sessions: new S3UploadSessions(location, client, root),
    root,
    quota: options.objectQuota,
  });
}
