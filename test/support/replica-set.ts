/**
 * Several `outpost hub` processes on one throw-away PostgreSQL database, each
 * with its own data dir (so its own serving and admin certificates), sharing
 * only the database and the key file for secrets at rest.
 */
import { join } from 'node:path';
import { loadOrCreateEncryptionKeys } from '../../src/store/index.ts';
import { type ApiClient, apiClient } from './https-client.ts';
import { type HubProcess, removeDir, startHubProcess, tempDir } from './hub-process.ts';
import { type PostgresCluster, startPostgres } from './postgres.ts';

export interface ReplicaSet {
  readonly postgres: PostgresCluster;
  /** The database URL every replica's `--store` names. */
  readonly database: string;
  /** The replicas, by index; a restarted replica replaces its entry. */
  readonly hubs: HubProcess[];
  /** An admin API client per replica (each with that replica's own kubeconfig). */
  readonly clients: ApiClient[];
  /** Starts replica `index` again on its data dir (after it was stopped or killed). */
  restart(index: number): Promise<HubProcess>;
  /** What `/debug/leader` of replica `index` answers. */
  leader(index: number): Promise<LeaderStatus>;
  /** Stops every replica, the database and removes every folder. */
  stop(): Promise<void>;
}

export interface LeaderStatus {
  readonly identity: string;
  readonly leading: boolean;
  readonly holder?: string;
}

export interface ReplicaSetOptions {
  /** @default 3 */
  readonly replicas?: number;
  /** `--lease-duration` of every replica. @default '15s' */
  readonly leaseDuration?: string;
  readonly args?: readonly string[];
}

/** Starts PostgreSQL, then all replicas at the same time on a fresh database. */
export async function startReplicaSet(options: ReplicaSetOptions = {}): Promise<ReplicaSet> {
  const postgres = await startPostgres();
  const shared = await tempDir('outpost-replicas-');
  const hubs: HubProcess[] = [];
  const clients: ApiClient[] = [];
  try {
    const database = await postgres.createDatabase('outpost');
    const keyFile = join(shared, 'encryption.key');
    await loadOrCreateEncryptionKeys(keyFile);
    const args = () => [
      '--store',
      database,
      '--encryption-key-file',
      keyFile,
      '--lease-duration',
      options.leaseDuration ?? '15s',
      ...(options.args ?? []),
    ];
    const count = options.replicas ?? 3;
    const dataDirs = Array.from({ length: count }, (_, index) => join(shared, `replica-${index}`));
    const started = await Promise.allSettled(
      dataDirs.map((dataDir) => startHubProcess({ dataDir, args: args() })),
    );
    for (const result of started) if (result.status === 'fulfilled') hubs.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (const hub of hubs) clients.push(apiClient(hub.kubeconfig));
    return {
      postgres,
      database,
      hubs,
      clients,
      async restart(index) {
        await hubs[index]!.stop('SIGKILL');
        await clients[index]!.close();
        const hub = await startHubProcess({ dataDir: dataDirs[index]!, args: args() });
        hubs[index] = hub;
        clients[index] = apiClient(hub.kubeconfig);
        return hub;
      },
      async leader(index) {
        const response = await clients[index]!.request('GET', '/debug/leader');
        if (response.status !== 200) throw new Error(`/debug/leader: ${response.status} ${response.text}`);
        return response.json() as LeaderStatus;
      },
      stop: () => stopAll(postgres, shared, hubs, clients),
    };
  } catch (error) {
    await stopAll(postgres, shared, hubs, clients);
    throw error;
  }
}

async function stopAll(
  postgres: PostgresCluster,
  shared: string,
  hubs: HubProcess[],
  clients: ApiClient[],
): Promise<void> {
  // The hubs first: a client's close() waits for its requests in flight, which end with them.
  await Promise.all(hubs.map((hub) => hub.stop()));
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await postgres.stop();
  await removeDir(shared);
}
