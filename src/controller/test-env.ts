/**
 * Test helpers for the controller runtime and hub controllers (not exported by the door):
 * a real ObjectService over a real SQLite store in a temp dir, a recorder of the store's
 * writes, and polling with a deadline.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALL_KINDS, type KindDefinition, KindRegistry, type KubeObject } from '../api/index.ts';
import { ObjectService } from '../hub/kube-api/index.ts';
import { SqliteStore, type Store, type WatchEvent } from '../store/index.ts';

export interface TestService {
  readonly service: ObjectService;
  readonly store: SqliteStore;
  kind(kind: string, apiVersion?: string): KindDefinition;
  close(): Promise<void>;
}

/** An ObjectService over a fresh SQLite store, with the `default` namespace; `wrap` may interpose on the store. */
export async function startTestService(
  options: { garbageCollector?: boolean; wrap?: (store: SqliteStore) => Store } = {},
): Promise<TestService> {
  const root = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(join(root, 'outpost-controller-'));
  const store = new SqliteStore({ path: join(dir, 'hub.db'), synchronous: 'NORMAL' });
  const registry = new KindRegistry(ALL_KINDS);
  const service = new ObjectService({
    store: options.wrap ? options.wrap(store) : store,
    registry,
    garbageCollector: options.garbageCollector,
  });
  const namespaces = registry.byKind('v1', 'Namespace')!;
  await service.create(
    namespaces,
    undefined,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
    { fieldManager: 'test' },
  );
  return {
    service,
    store,
    kind(kind, apiVersion = 'v1') {
      const def = registry.kinds.find((candidate) => candidate.kind === kind);
      if (!def) throw new Error(`no kind ${kind} (${apiVersion})`);
      return def;
    },
    async close() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every write the store commits from now on. */
export interface WriteLog {
  readonly events: WatchEvent[];
  /** Events whose key starts with `prefix` (all when absent). */
  writes(prefix?: string): WatchEvent[];
  stop(): void;
}

export async function recordWrites(store: Store): Promise<WriteLog> {
  const events: WatchEvent[] = [];
  const controller = new AbortController();
  const watch = await store.watch(
    { prefix: '', afterRevision: await store.currentRevision(), signal: controller.signal },
    (batch) => {
      events.push(...batch);
    },
  );
  watch.done.catch(() => {});
  return {
    events,
    writes: (prefix = '') => events.filter((event) => event.key.startsWith(prefix)),
    stop: () => controller.abort(),
  };
}

/** Polls `check` until it returns a truthy value (returned) or the deadline passes (throws with `what`). */
export async function eventually<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`, { cause: last });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A ConfigMap body. */
export function configMap(
  name: string,
  data: Record<string, string> = {},
  metadata: Partial<KubeObject['metadata']> = {},
): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', ...metadata }, data };
}
