import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ALL_KINDS, type KindDefinition, KindRegistry, type KubeObject } from '../../../src/api/index.ts';
import { ObjectService } from '../../../src/hub/kube-api/index.ts';
import { SqliteStore, type Store, type WatchEvent } from '../../../src/store/index.ts';

/** An ObjectService over a SQLite store of its own, and a way to clean up. */
export interface TestService {
  readonly service: ObjectService;
  /** The store itself (not `wrap`'s), to record or compact its writes. */
  readonly store: SqliteStore;
  /** The served kind named `kind`. @throws when there is none */
  kind(kind: string): KindDefinition;
  close(): Promise<void>;
}

/** A whole hub app (`buildHub`) built in this process, with its store. */
export interface InProcessHub extends TestService {
  readonly app: FastifyInstance;
}

export interface TestServiceOptions {
  /** Foreground and Orphan deletes add their finalizers (a garbage collector runs). @default false */
  readonly garbageCollector?: boolean;
  /** Interposes on the store the service uses (faults). @default the store itself */
  readonly wrap?: (store: SqliteStore) => Store;
}

/** An ObjectService over a fresh SQLite store (no admission checks), with the `default` namespace. */
export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const { store, registry, cleanup } = await openTestStore('outpost-controller-');
  const service = new ObjectService({
    store: options.wrap ? options.wrap(store) : store,
    registry,
    garbageCollector: options.garbageCollector,
  });
  await service.create(
    registry.byKind('v1', 'Namespace')!,
    undefined,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } },
    { fieldManager: 'test' },
  );
  return { service, store, kind: kindLookup(registry), close: cleanup };
}

/** A SQLite store in a temp dir (in memory-backed /dev/shm when there is one) and every kind's registry. */
export async function openTestStore(prefix: string): Promise<{
  store: SqliteStore;
  registry: KindRegistry;
  cleanup: () => Promise<void>;
}> {
  const root = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = await mkdtemp(join(root, prefix));
  // NORMAL keeps the runs fast; durability is not what these tests are about.
  const store = new SqliteStore({ path: join(dir, 'hub.db'), synchronous: 'NORMAL' });
  return {
    store,
    registry: new KindRegistry(ALL_KINDS),
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Looks a served kind up by its `kind` alone (every kind the hub serves has one version). */
export function kindLookup(registry: KindRegistry): TestService['kind'] {
  return (kind) => {
    const def = registry.kinds.find((candidate) => candidate.kind === kind);
    if (!def) throw new Error(`no kind ${kind}`);
    return def;
  };
}

/** Every write the store commits from now on. */
export interface WriteLog {
  /** The store's revision when recording began. */
  readonly revision: number;
  readonly events: WatchEvent[];
  /** Events whose key starts with `prefix` (all when absent). */
  writes(prefix?: string): WatchEvent[];
  /** Asserts that the store is at the revision it had and no event arrived; stops recording. */
  assertUnchanged(what: string): Promise<void>;
  stop(): void;
}

/** Starts recording the store's writes (a watch on every key from the current revision). */
export async function recordWrites(store: Store): Promise<WriteLog> {
  const revision = await store.currentRevision();
  const events: WatchEvent[] = [];
  const controller = new AbortController();
  const watch = await store.watch(
    { prefix: '', afterRevision: revision, signal: controller.signal },
    (batch) => {
      events.push(...batch);
    },
  );
  watch.done.catch(() => {
    // Ended by the store (closed): the assertions report what it saw.
  });
  return {
    revision,
    events,
    writes: (prefix = '') => events.filter((event) => event.key.startsWith(prefix)),
    stop: () => controller.abort(),
    async assertUnchanged(what) {
      const now = await store.currentRevision();
      controller.abort();
      assert.equal(now, revision, `the store's revision moved from ${revision} to ${now}: ${what}`);
      assert.deepEqual(
        events.map((event) => `${event.type} ${event.key}@${event.revision}`),
        [],
        `a watch saw writes: ${what}`,
      );
    },
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
