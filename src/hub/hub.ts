import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { SqliteStore, type Store, startCompactor } from '../store/index.ts';
import { createAuthenticator } from './auth/index.ts';
import { buildHub } from './http/app.ts';
import { ApiError, type ObjectService, parse } from './kube-api/index.ts';
import { loadOrCreatePki, writeKubeconfig } from './pki/index.ts';

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
  readonly version: string;
  readonly logger: Logger;
  /** How long history is kept for watches. @default 300_000 */
  readonly historyRetentionMs?: number;
  readonly bookmarkIntervalMs?: number;
}

export interface RunningHub {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly app: FastifyInstance;
  readonly service: ObjectService;
  close(): Promise<void>;
}

/** Namespaces every hub has, as a Kubernetes cluster has `default`. */
const BUILT_IN_NAMESPACES = ['default', 'outpost-system'];

/**
 * Starts a hub: opens the store, creates or loads the PKI, serves the API
 * over HTTPS and writes `DIR/admin.kubeconfig`.
 */
export async function startHub(options: HubOptions): Promise<RunningHub> {
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const host = options.host ?? '127.0.0.1';
  const store = openStore(options);
  const pki = await loadOrCreatePki(options.dataDir, {
    hosts: [host, hostname()].filter((h) => h !== '0.0.0.0' && h !== '::'),
  });
  const { app, service } = buildHub({
    store,
    authenticate: createAuthenticator(),
    version: options.version,
    https: { key: pki.serverKey, cert: pki.serverCert, ca: pki.caCert },
    logger: options.logger,
    watch: { bookmarkIntervalMs: options.bookmarkIntervalMs },
  });
  await ensureNamespaces(service);
  await resumeNamespaceDeletions(service, options.logger);
  const shutdown = new AbortController();
  startCompactor(store, { retentionMs: options.historyRetentionMs, signal: shutdown.signal });
  await app.listen({ host, port: options.port ?? 6443 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `https://${urlHost}:${port}`;
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
    async close() {
      shutdown.abort();
      // Watches are endless responses: end them so that close() need not wait.
      app.server.closeAllConnections?.();
      await app.close();
      await store.close();
    },
  };
}

function openStore(options: HubOptions): Store {
  const spec = options.store ?? `sqlite:${join(options.dataDir, 'outpost.db')}`;
  if (spec.startsWith('sqlite:'))
    return new SqliteStore({ path: spec.slice('sqlite:'.length), synchronous: options.synchronous });
  throw new Error(`unsupported store ${JSON.stringify(spec)}: expected sqlite:PATH`);
}

/**
 * Restarts the background drain of every namespace left Terminating: a hub
 * stopped or killed mid-drain would otherwise leave it so forever.
 */
async function resumeNamespaceDeletions(service: ObjectService, logger: Logger): Promise<void> {
  const def = service.registry.byKind('v1', 'Namespace')!;
  const { items } = await service.list(def, undefined, {});
  for (const item of items) {
    const { metadata } = parse(item);
    if (!metadata.deletionTimestamp) continue;
    try {
      await service.delete(def, undefined, metadata.name!, {});
    } catch (err) {
      logger.warn({ err, namespace: metadata.name }, 'could not resume namespace deletion');
    }
  }
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
