import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configMap,
  eventually,
  recordWrites,
  startTestService,
  type TestService,
} from '../../../test/support/in-process/index.ts';
import type { KubeObject, OwnerReferenceShape } from '../../api/index.ts';
import { type Controller, Manager } from '../../controller/index.ts';
import { ApiError, parse } from '../kube-api/index.ts';
import { addGarbageCollector } from './garbage-collector.ts';

describe('garbage collector', () => {
  let env: TestService;
  let manager: Manager;
  let gc: Controller;
  const stop = new AbortController();
  let running: Promise<void>;

  before(async () => {
    env = await startTestService({ garbageCollector: true });
    manager = new Manager({ client: env.service });
    gc = addGarbageCollector(manager);
    running = manager.start(stop.signal);
  });
  after(async () => {
    stop.abort();
    await running;
    await env.close();
  });

  const cm = () => env.kind('ConfigMap');
  const create = async (
    name: string,
    owners: OwnerReferenceShape[] = [],
    extra: Partial<KubeObject['metadata']> = {},
  ) =>
    parse(
      await env.service.create(
        cm(),
        'default',
        configMap(name, {}, { ...(owners.length > 0 ? { ownerReferences: owners } : {}), ...extra }),
        { fieldManager: 'test' },
      ),
    );
  const owner = (object: KubeObject, blockOwnerDeletion?: boolean): OwnerReferenceShape => ({
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name!,
    uid: object.metadata.uid!,
    ...(blockOwnerDeletion === undefined ? {} : { blockOwnerDeletion }),
  });
  const read = async (name: string, kind = cm(), namespace: string | undefined = 'default') => {
    try {
      return parse(await env.service.get(kind, namespace, name));
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return undefined;
      throw error;
    }
  };
  const gone = (name: string) =>
    eventually(async () => (await read(name)) === undefined, `${name} is deleted`);
  const reconciles = () =>
    ['success', 'error', 'requeue_after', 'terminal_error'].reduce(
      (sum, result) =>
        sum +
        manager.metrics
          .counter('controller_reconcile_total', '')
          .get({ controller: 'garbage-collector', result }),
      0,
    );
  /** Waits until the collector has reconciled since `since` and has nothing queued. */
  const settled = async (since: number) => {
    await eventually(() => reconciles() > since, 'the collector reconciles');
    await eventually(() => gc.queue.idle, 'the collector has nothing queued or in flight');
  };

  it('deletes, in the background, dependents whose owners are all gone and keeps those with a live owner', async () => {
    const a = await create('bg-owner-a');
    const b = await create('bg-owner-b');
    await create('bg-only-a', [owner(a)]);
    await create('bg-a-and-b', [owner(a), owner(b)]);
    await create('bg-child-of-child', [owner((await read('bg-only-a'))!)]);
    await env.service.delete(cm(), 'default', 'bg-owner-a', { propagationPolicy: 'Background' });
    await gone('bg-only-a');
    await gone('bg-child-of-child');
    await eventually(
      async () => (await read('bg-a-and-b'))?.metadata.ownerReferences?.length === 1,
      'the reference to the gone owner is removed',
    );
    assert.deepEqual((await read('bg-a-and-b'))?.metadata.ownerReferences, [owner(b)]);
  });

  it('counts an owner re-created under the same name as gone (owners are matched by uid)', async () => {
    const first = await create('uid-owner');
    await env.service.delete(cm(), 'default', 'uid-owner', {});
    await create('uid-owner');
    await create('uid-dependent', [owner(first)]);
    await gone('uid-dependent');
    assert.ok(await read('uid-owner'), 'the new owner is untouched');
  });

  it('keeps a dependent created right after its owner (the cache may not have the owner yet)', async () => {
    const since = reconciles();
    const parent = await create('fresh-owner');
    await create('fresh-dependent', [owner(parent)]);
    await settled(since);
    assert.ok(await read('fresh-dependent'));
  });

  it('in the foreground keeps the owner, marked, until blocking dependents are gone', async () => {
    const parent = await create('fg-owner');
    // The blocking dependent is held by a finalizer of someone else's, so the wait can be seen.
    await create('fg-blocking', [owner(parent, true)], { finalizers: ['example.com/hold'] });
    await create('fg-free', [owner(parent, false)]);
    await env.service.delete(cm(), 'default', 'fg-owner', { propagationPolicy: 'Foreground' });
    await eventually(
      async () => (await read('fg-blocking'))?.metadata.deletionTimestamp,
      'the blocking dependent is deleted',
    );
    await gone('fg-free');
    const waiting = await read('fg-owner');
    assert.ok(waiting?.metadata.deletionTimestamp, 'the owner is still there, being deleted');
    assert.deepEqual(waiting.metadata.finalizers, ['foregroundDeletion']);
    await env.service.patch(
      cm(),
      'default',
      'fg-blocking',
      'merge',
      { metadata: { finalizers: null } },
      { fieldManager: 'test' },
    );
    await gone('fg-blocking');
    await gone('fg-owner');
  });

  it('in the foreground deletes dependents of dependents first', async () => {
    const parent = await create('fg2-owner');
    const child = await create('fg2-child', [owner(parent, true)]);
    await create('fg2-grandchild', [owner(child, true)], { finalizers: ['example.com/hold'] });
    await env.service.delete(cm(), 'default', 'fg2-owner', { propagationPolicy: 'Foreground' });
    await eventually(
      async () => (await read('fg2-grandchild'))?.metadata.deletionTimestamp,
      'the grandchild is deleted',
    );
    assert.deepEqual(
      (await read('fg2-child'))?.metadata.finalizers,
      ['foregroundDeletion'],
      'the child waits too',
    );
    assert.ok((await read('fg2-owner'))?.metadata.deletionTimestamp);
    await env.service.patch(
      cm(),
      'default',
      'fg2-grandchild',
      'merge',
      { metadata: { finalizers: null } },
      { fieldManager: 'test' },
    );
    await gone('fg2-owner');
    assert.equal(await read('fg2-child'), undefined);
  });

  it('orphans dependents: they lose the reference and stay, then the owner goes', async () => {
    const parent = await create('orphan-owner');
    const other = await create('orphan-other');
    await create('orphan-dep', [owner(parent)]);
    await create('orphan-dep-2', [owner(parent), owner(other)]);
    await env.service.delete(cm(), 'default', 'orphan-owner', { propagationPolicy: 'Orphan' });
    await gone('orphan-owner');
    const dependent = await read('orphan-dep');
    assert.ok(dependent);
    assert.equal(dependent.metadata.ownerReferences, undefined);
    assert.deepEqual((await read('orphan-dep-2'))?.metadata.ownerReferences, [owner(other)]);
  });

  it('collects a namespaced dependent of a cluster-scoped owner', async () => {
    const namespaces = env.kind('Namespace');
    const ns = parse(
      await env.service.create(
        namespaces,
        undefined,
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gc-owner' } },
        { fieldManager: 'test' },
      ),
    );
    await create('of-a-namespace', [owner(ns)]);
    await env.service.delete(namespaces, undefined, 'gc-owner', {});
    await gone('of-a-namespace');
  });

  it('writes once when it reconciles a key twice, and nothing on a resync when nothing changed', async () => {
    const parent = await create('idem-owner');
    const other = await create('idem-other');
    await create('idem-keeps', [owner(parent)]);
    await create('idem-orphaned', [owner(parent), owner(other)]);
    const writes = await recordWrites(env.store);
    await env.service.delete(cm(), 'default', 'idem-owner', { propagationPolicy: 'Orphan' });
    await gone('idem-owner');
    const keys = ['idem-owner', 'idem-keeps', 'idem-orphaned'].map(
      (name) => `/core/configmaps/default/${name}`,
    );
    const history = () => keys.map((key) => writes.writes(key).map((event) => event.type));
    // Marked (orphan finalizer), two dependents rewritten, finalizer removed (the owner goes).
    assert.deepEqual(history(), [['MODIFIED', 'DELETED'], ['MODIFIED'], ['MODIFIED']]);

    // The same keys again, as duplicate or late events would bring them: nothing more is written.
    const revision = await env.store.currentRevision();
    let since = reconciles();
    for (const key of keys) gc.enqueue(key);
    await settled(since);
    since = reconciles();
    for (const key of keys) gc.enqueue(key);
    await settled(since);
    assert.equal(await env.store.currentRevision(), revision, 'reconciling again wrote nothing');

    // A resync of every cache reconciles every object with owners or a pending deletion again.
    since = reconciles();
    for (const def of env.service.registry.kinds) manager.informer(def).resync();
    await settled(since);
    assert.equal(await env.store.currentRevision(), revision, 'a resync with nothing changed wrote nothing');
    assert.deepEqual(history(), [['MODIFIED', 'DELETED'], ['MODIFIED'], ['MODIFIED']]);
    writes.stop();
  });
});
