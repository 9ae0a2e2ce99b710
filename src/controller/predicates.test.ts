import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configMap,
  eventually,
  startTestService,
  type TestService,
} from '../../test/support/in-process/index.ts';
import type { KubeObject } from '../api/index.ts';
import { ManualClock } from './clock.ts';
import { Controller } from './controller.ts';
import type { Informer } from './informer.ts';
import { Manager } from './manager.ts';
import {
  allOf,
  annotationsChanged,
  anyOf,
  generationChanged,
  labelsChanged,
  lifecycleChanged,
  not,
  type Predicate,
  updateWhen,
} from './predicates.ts';

function object(metadata: Partial<KubeObject['metadata']>): KubeObject {
  return Object.freeze({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'a', uid: 'u1', ...metadata },
  });
}

/** What `predicate` says of an add, an update from `old` to `next`, a resync of `next`, and a delete. */
function verdicts(predicate: Predicate, old: KubeObject, next: KubeObject) {
  return {
    add: predicate.add?.(next) ?? true,
    update: predicate.update?.(old, next) ?? true,
    resync: predicate.update?.(next, next) ?? true,
    delete: predicate.delete?.(next) ?? true,
  };
}

const all = { add: true, update: true, resync: true, delete: true };

describe('predicates', () => {
  it('pass adds, deletes and resyncs, and updates only when what they watch changed', () => {
    const base = object({ generation: 1, labels: { a: '1' }, annotations: { n: '1' } });
    const relabelled = object({ generation: 1, labels: { a: '2' }, annotations: { n: '1' } });
    const respecced = object({ generation: 2, labels: { a: '1' }, annotations: { n: '1' } });
    const annotated = object({ generation: 1, labels: { a: '1' }, annotations: { n: '2' } });
    const deleting = object({ ...base.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' });
    const recreated = object({ ...base.metadata, uid: 'u2' });
    const sameLabelsNewObject = object({ generation: 1, labels: { a: '1' }, annotations: { n: '1' } });

    assert.deepEqual(verdicts(generationChanged, base, respecced), all);
    assert.deepEqual(verdicts(generationChanged, base, relabelled), { ...all, update: false });
    assert.deepEqual(verdicts(labelsChanged, base, relabelled), all);
    assert.deepEqual(
      verdicts(labelsChanged, base, sameLabelsNewObject),
      { ...all, update: false },
      'labels are compared by value',
    );
    assert.deepEqual(verdicts(annotationsChanged, base, annotated), all);
    assert.deepEqual(verdicts(annotationsChanged, base, respecced), { ...all, update: false });
    assert.deepEqual(verdicts(lifecycleChanged, base, deleting), all);
    assert.deepEqual(verdicts(lifecycleChanged, base, recreated), all);
    assert.deepEqual(verdicts(lifecycleChanged, base, relabelled), { ...all, update: false });
  });

  it('combine: anyOf passes what one passes, allOf what all pass, not inverts every verdict', () => {
    const base = object({ generation: 1, labels: { a: '1' } });
    const relabelled = object({ generation: 1, labels: { a: '2' } });
    const dropDeletes: Predicate = { delete: () => false };

    assert.deepEqual(verdicts(anyOf(generationChanged, labelsChanged), base, relabelled), all);
    assert.deepEqual(verdicts(allOf(generationChanged, labelsChanged), base, relabelled), {
      ...all,
      update: false,
    });
    assert.deepEqual(verdicts(allOf(labelsChanged, dropDeletes), base, relabelled), {
      ...all,
      delete: false,
    });
    assert.deepEqual(verdicts(not(generationChanged), base, relabelled), {
      add: false,
      update: true,
      resync: false,
      delete: false,
    });
    assert.deepEqual(verdicts(anyOf(), base, relabelled), {
      add: false,
      update: false,
      resync: false,
      delete: false,
    });
    assert.deepEqual(verdicts(allOf(), base, relabelled), all);
    // A custom update function: the resync is its own to judge through updateWhen (passed), or a plain method.
    const statusOnly: Predicate = { update: (old, next) => old !== next && old.status !== next.status };
    assert.deepEqual(
      verdicts(
        updateWhen(() => false),
        base,
        relabelled,
      ),
      { ...all, update: false },
    );
    assert.deepEqual(verdicts(statusOnly, base, relabelled), { ...all, update: false, resync: false });
  });
});

describe('Controller.watch with predicates', () => {
  let env: TestService;
  before(async () => {
    env = await startTestService();
  });
  after(() => env.close());

  /** Every key the controller's queue holds, taken out of it. */
  async function drain(controller: Controller): Promise<string[]> {
    const keys: string[] = [];
    while (controller.queue.length > 0) {
      const key = (await controller.queue.get())!;
      keys.push(key);
      controller.queue.done(key);
    }
    return keys.sort();
  }

  /** Waits until the informer's cache holds `name` at the store's current revision (its handlers have run). */
  async function caughtUp(informer: Informer, name: string, gone = false): Promise<void> {
    const revision = await env.store.currentRevision();
    await eventually(
      () =>
        informer.revision >= revision &&
        (gone ? !informer.get('default', name) : informer.get('default', name)),
      `the cache reaches revision ${revision}`,
    );
  }

  it('enqueues only the events its predicates pass, mapped as asked (old keys too unless mapOld is false), coalesced if asked', async () => {
    const manager = new Manager({ client: env.service });
    const kind = env.kind('ConfigMap');
    const informer = manager.informer(kind);
    const reconciler = { name: 'unused', reconcile: async () => {} };
    const specs = new Controller({ reconciler }).watch(informer, { predicates: [generationChanged] });
    const byTier = new Controller({ reconciler }).watch(informer, {
      map: (o) => [`tier:${o.metadata.labels?.tier ?? 'none'}`],
      predicates: [labelsChanged, { delete: () => false }],
    });
    const newTierOnly = new Controller({ reconciler }).watch(informer, {
      map: (o) => [`tier:${o.metadata.labels?.tier ?? 'none'}`],
      predicates: [labelsChanged],
      mapOld: false,
    });
    const clock = new ManualClock();
    const coalesced = new Controller({ reconciler, clock }).watch(informer, { coalesce: true });
    const stop = new AbortController();
    const running = informer.start(stop.signal);
    const write = { fieldManager: 'test' };

    await env.service.create(
      kind,
      'default',
      configMap('cm', { a: '1' }, { labels: { tier: 'web' } }),
      write,
    );
    await caughtUp(informer, 'cm');
    assert.deepEqual(await drain(specs), ['default/cm'], 'an add passes');
    assert.deepEqual(await drain(byTier), ['tier:web']);
    assert.deepEqual(await drain(newTierOnly), ['tier:web']);
    assert.deepEqual([coalesced.queue.length, coalesced.queue.coalesced], [0, 1], 'held for the window');
    clock.advance(100);
    assert.deepEqual(await drain(coalesced), ['default/cm'], 'queued once the window closed');

    await env.service.patch(kind, 'default', 'cm', 'merge', { metadata: { labels: { tier: 'db' } } }, write);
    await caughtUp(informer, 'cm');
    assert.deepEqual(await drain(specs), [], 'a label change is not a spec change');
    assert.deepEqual(await drain(byTier), ['tier:db', 'tier:web'], 'the tier left and the tier joined');
    assert.deepEqual(await drain(newTierOnly), ['tier:db'], 'mapOld: false maps the new object only');

    await env.service.patch(kind, 'default', 'cm', 'merge', { data: { a: '2' } }, write);
    await caughtUp(informer, 'cm');
    assert.deepEqual(await drain(specs), ['default/cm'], 'a data change bumps the generation');
    assert.deepEqual(await drain(byTier), [], 'labels unchanged');

    informer.resync();
    assert.deepEqual(await drain(specs), ['default/cm'], 'a resync passes the built-in predicates');
    assert.deepEqual(await drain(byTier), ['tier:db']);

    await env.service.delete(kind, 'default', 'cm', {});
    await caughtUp(informer, 'cm', true);
    assert.deepEqual(await drain(specs), ['default/cm'], 'a delete passes');
    assert.deepEqual(await drain(byTier), [], 'this watch drops deletes');
    stop.abort();
    await running;
  });
});
