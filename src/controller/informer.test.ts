import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configMap,
  eventually,
  startTestService,
  type TestService,
} from '../../test/support/in-process/index.ts';
import type { KubeObject } from '../api/index.ts';
import {
  type SqliteStore,
  type Store,
  type Watch,
  WatcherTooSlowError,
  type WatchOptions,
  type WatchSink,
} from '../store/index.ts';
import { Informer } from './informer.ts';

/**
 * The real store, with two faults a production store shows: dropping a watcher (a slow one)
 * and compaction landing between an informer's list and its watch.
 */
class FaultyStore {
  readonly #store: SqliteStore;
  readonly #drops = new Set<() => void>();
  /** Runs once before the next watch starts. */
  beforeNextWatch: (() => Promise<void>) | undefined;
  watches = 0;

  constructor(store: SqliteStore) {
    this.#store = store;
  }

  asStore(): Store {
    const store = this.#store;
    return {
      currentRevision: () => store.currentRevision(),
      compactedRevision: () => store.compactedRevision(),
      get: (key) => store.get(key),
      list: (options) => store.list(options),
      count: (prefix) => store.count(prefix),
      create: (key, render) => store.create(key, render),
      update: (key, revision, render) => store.update(key, revision, render),
      delete: (key, revision, render) => store.delete(key, revision, render),
      compact: (revision) => store.compact(revision),
      close: () => store.close(),
      watch: (options, sink) => this.#watch(options, sink),
    };
  }

  /** Ends every open watch as a store ends a watcher that fell behind. */
  dropWatchers(): void {
    for (const drop of [...this.#drops]) drop();
  }

  async #watch(options: WatchOptions, sink: WatchSink): Promise<Watch> {
    const hook = this.beforeNextWatch;
    this.beforeNextWatch = undefined;
    await hook?.();
    this.watches++;
    const inner = new AbortController();
    options.signal.addEventListener('abort', () => inner.abort(), { once: true });
    const watch = await this.#store.watch({ ...options, signal: inner.signal }, sink);
    let reject: (error: unknown) => void = () => {};
    const dropped = new Promise<void>((_, fail) => {
      reject = fail;
    });
    const drop = () => {
      this.#drops.delete(drop);
      inner.abort();
      reject(new WatcherTooSlowError());
    };
    this.#drops.add(drop);
    void watch.done.finally(() => this.#drops.delete(drop));
    return { done: Promise.race([watch.done, dropped]) };
  }
}

describe('Informer', () => {
  let env: TestService;
  let faulty: FaultyStore;
  before(async () => {
    env = await startTestService({
      wrap: (store) => {
        faulty = new FaultyStore(store);
        return faulty.asStore();
      },
    });
  });
  after(() => env.close());

  const configMaps = () => env.kind('ConfigMap');
  const write = (name: string, data: Record<string, string>) =>
    env.service.create(configMaps(), 'default', configMap(name, data), { fieldManager: 'test' });
  const storeState = async () => {
    const { items } = await env.service.list(configMaps(), undefined, {});
    return new Map(items.map((item) => [JSON.parse(item.value).metadata.name as string, item.value]));
  };
  const cacheState = (informer: Informer) =>
    new Map(informer.list().map((object) => [object.metadata.name!, JSON.stringify(object)]));

  it('lists, then follows adds, updates and deletes with old and new objects', async () => {
    await write('pre', { a: '1' });
    const informer = new Informer({ client: env.service, kind: configMaps(), namespace: 'default' });
    const seen: string[] = [];
    informer.addEventHandler({
      onAdd: (object) => seen.push(`add ${object.metadata.name}`),
      onUpdate: (old, object) =>
        seen.push(
          `update ${object.metadata.name} ${JSON.stringify(old.data)}->${JSON.stringify(object.data)}`,
        ),
      onDelete: (object) => seen.push(`delete ${object.metadata.name} ${JSON.stringify(object.data)}`),
    });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    assert.equal(await informer.waitForSync(stop.signal), true);
    assert.ok(informer.hasSynced);
    assert.deepEqual(informer.get('default', 'pre')?.data, { a: '1' });
    assert.ok(Object.isFrozen(informer.get('default', 'pre')?.metadata), 'cached objects are read-only');

    const created = await write('live', { b: '1' });
    await env.service.patch(
      configMaps(),
      'default',
      'live',
      'merge',
      { data: { b: '2' } },
      { fieldManager: 'test' },
    );
    await env.service.delete(configMaps(), 'default', 'pre', {});
    await eventually(() => informer.get('default', 'pre') === undefined, 'pre leaves the cache');
    assert.deepEqual(seen, [
      'add pre',
      'add live',
      'update live {"b":"1"}->{"b":"2"}',
      'delete pre {"a":"1"}',
    ]);
    assert.ok(informer.revision > created.revision);
    assert.deepEqual(cacheState(informer), await storeState());
    stop.abort();
    await running;
    await env.service.delete(configMaps(), 'default', 'live', {});
  });

  it('lists again after a dropped watch and a 410, synthesising what it missed', async () => {
    for (const name of ['keep', 'change', 'vanish']) await write(name, { v: '1' });
    const informer = new Informer({ client: env.service, kind: configMaps() });
    informer.addIndex('by-value', (object) => Object.values((object.data ?? {}) as Record<string, string>));
    const seen: string[] = [];
    informer.addEventHandler({
      onAdd: (object) => seen.push(`add ${object.metadata.name}`),
      onUpdate: (old, object) =>
        seen.push(
          `update ${object.metadata.name} ${JSON.stringify(old.data)}->${JSON.stringify(object.data)}`,
        ),
      onDelete: (object) => seen.push(`delete ${object.metadata.name}`),
    });
    const stop = new AbortController();
    const watchesBefore = faulty.watches;
    const running = informer.start(stop.signal);
    await informer.waitForSync(stop.signal);
    await eventually(() => faulty.watches > watchesBefore, 'the informer watches');
    seen.length = 0;

    // While the informer is between its relist and its next watch, the world changes and the
    // store compacts everything: that watch gets a real 410 from the store and must list again.
    faulty.beforeNextWatch = async () => {
      await env.service.patch(
        configMaps(),
        'default',
        'change',
        'merge',
        { data: { v: '2' } },
        { fieldManager: 'test' },
      );
      await env.service.delete(configMaps(), 'default', 'vanish', {});
      await write('appear', { v: '2' });
      await env.store.compact(await env.store.currentRevision());
    };
    faulty.dropWatchers();
    await eventually(
      () => faulty.watches >= watchesBefore + 3 && informer.relists >= 2,
      'the informer watches again',
    );
    assert.deepEqual(cacheState(informer), await storeState(), 'the cache is the store after the relists');
    assert.deepEqual(seen.sort(), ['add appear', 'delete vanish', 'update change {"v":"1"}->{"v":"2"}']);
    assert.deepEqual(
      informer
        .byIndex('by-value', '2')
        .map((object) => object.metadata.name)
        .sort(),
      ['appear', 'change'],
      'indexes follow the relist',
    );
    assert.deepEqual(
      informer.byIndex('by-value', '1').map((object) => object.metadata.name),
      ['keep'],
    );

    // And the new watch is live.
    await write('after', { v: '3' });
    await eventually(() => informer.get('default', 'after'), 'a write after the relist reaches the cache');
    stop.abort();
    await running;
  });

  it('caches what transform keeps and skips the events unchanged rules out, without calling handlers', async () => {
    await write('slim', { v: '1', noise: '0' });
    const informer = new Informer({
      client: env.service,
      kind: configMaps(),
      namespace: 'default',
      transform: (object) => ({
        apiVersion: object.apiVersion,
        kind: object.kind,
        metadata: object.metadata,
        data: { v: (object.data as Record<string, string>).v },
      }),
      unchanged: (text, cached) => text.includes(`"v":"${(cached.data as Record<string, string>).v}"`),
    });
    const updates: string[] = [];
    informer.addEventHandler({
      onUpdate: (old, object) =>
        updates.push(
          `${(old.data as Record<string, string>).v}->${(object.data as Record<string, string>).v}`,
        ),
    });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    await informer.waitForSync(stop.signal);
    assert.deepEqual(
      informer.get('default', 'slim')?.data,
      { v: '1' },
      'the cache holds what transform kept',
    );
    const patchData = (data: Record<string, string>) =>
      env.service.patch(configMaps(), 'default', 'slim', 'merge', { data }, { fieldManager: 'test' });
    const noisy = await patchData({ noise: '1' });
    await eventually(() => informer.revision >= noisy.revision, 'the informer passes the skipped write');
    assert.deepEqual(updates, [], 'a skipped write calls no handler');
    await patchData({ v: '2' });
    await eventually(
      () => (informer.get('default', 'slim')?.data as Record<string, string> | undefined)?.v === '2',
      'a write that matters is applied',
    );
    assert.deepEqual(updates, ['1->2']);
    stop.abort();
    await running;
    await env.service.delete(configMaps(), 'default', 'slim', {});
  });

  it('replays the cache as adds to a handler added after sync, and resyncs as updates of the same object', async () => {
    const informer = new Informer({ client: env.service, kind: configMaps() });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    await informer.waitForSync(stop.signal);
    const added: string[] = [];
    const resynced: KubeObject[] = [];
    informer.addEventHandler({
      onAdd: (object) => added.push(object.metadata.name!),
      onUpdate: (old, object) => {
        assert.equal(old, object);
        resynced.push(object);
      },
    });
    assert.deepEqual(added.sort(), [...(await storeState()).keys()].sort());
    informer.resync();
    assert.equal(resynced.length, added.length);
    stop.abort();
    await running;
  });
  it('caches the object of its own echoed write as stored, without keeping it once the write returned', async () => {
    const informer = new Informer({ client: env.service, kind: configMaps(), namespace: 'default' });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    await informer.waitForSync(stop.signal);
    const echoed = {
      ...configMap('echoed', { k: 'v' }),
      metadata: { name: 'echoed', labels: { a: 'b' } },
    } as KubeObject;
    const created = await env.service.create(configMaps(), 'default', echoed, {
      fieldManager: 'test',
      borrowBody: true,
      echo: true,
    });
    const cached = informer.get('default', 'echoed');
    // The object the write stored from (its metadata is the service's copy; its data the body's).
    assert.equal(cached?.data, echoed.data, 'the written object, not a parse of its text');
    assert.ok(Object.isFrozen(cached?.data), 'frozen like every cached object');
    assert.deepEqual(
      cached,
      JSON.parse(created.value),
      'the same as the stored text, server fields included',
    );
    const next = { ...cached!, data: { k: 'w' } } as KubeObject;
    const updated = await env.service.update(configMaps(), 'default', 'echoed', next, {
      fieldManager: 'test',
      borrowBody: true,
      echo: true,
      stored: cached!,
    });
    assert.equal(informer.get('default', 'echoed')?.data, next.data);
    assert.deepEqual(informer.get('default', 'echoed'), JSON.parse(updated.value));
    assert.equal(env.service.echoOf(updated.value), undefined, 'nothing is kept once the write returned');
    // Without echo the event is parsed: the cache holds its own copy.
    const plain = { ...informer.get('default', 'echoed')!, data: { k: 'x' } } as KubeObject;
    await env.service.update(configMaps(), 'default', 'echoed', plain, { fieldManager: 'test' });
    assert.notEqual(informer.get('default', 'echoed')?.data, plain.data);
    assert.deepEqual(informer.get('default', 'echoed')?.data, { k: 'x' });
    assert.deepEqual(cacheState(informer), await storeState());
    stop.abort();
    await running;
    await env.service.delete(configMaps(), 'default', 'echoed', {});
  });
});
