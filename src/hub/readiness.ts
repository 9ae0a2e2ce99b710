/**
 * The hub's readiness checks (`/readyz`), named after the apiserver's where they mean the same:
 * the store answers a read (`store`, the apiserver's `etcd`), the caches this replica runs have
 * synced (`informer-sync`) and the hub is not shutting down (`shutdown`).
 */
import type { Store } from '../store/index.ts';
import type { HealthCheck } from './http/index.ts';

/** What the checks look at. */
export interface ReadinessSources {
  readonly store: Store;
  /**
   * What this replica's caches still wait for: the informers of the controllers it runs that have
   * not synced, or the controllers' Lease while it is not known whether this replica leads. `[]`
   * on a replica that does not lead: its own caches, the device and RBAC indexes, are loaded
   * before it listens.
   */
  readonly unsyncedCaches: () => readonly string[];
  /** Whether the hub has begun to shut down. */
  readonly shuttingDown: () => boolean;
  /** How long the store may take to answer. @default 2000 (the apiserver's etcd check timeout) */
  readonly storeTimeoutMs?: number;
}

/** A key no object has: reading it costs one index lookup on either engine. */
const PROBE_KEY = '/healthz';

/** The hub's readiness checks, in the order `/readyz` lists them. */
export function readinessChecks(sources: ReadinessSources): HealthCheck[] {
  const timeoutMs = sources.storeTimeoutMs ?? 2000;
  return [
    {
      name: 'store',
      async check() {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          await Promise.race([sources.store.get(PROBE_KEY), timeout]);
        } finally {
          clearTimeout(timer);
        }
      },
    },
    {
      name: 'informer-sync',
      check() {
        const pending = sources.unsyncedCaches();
        if (pending.length > 0) throw new Error(`caches not synced: ${pending.join(', ')}`);
      },
    },
    {
      name: 'shutdown',
      check() {
        if (sources.shuttingDown()) throw new Error('the hub is shutting down');
      },
    },
  ];
}
