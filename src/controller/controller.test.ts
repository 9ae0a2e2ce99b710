import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  configMap,
  eventually,
  recordWrites,
  startTestService,
  type TestService,
} from '../../test/support/in-process/index.ts';
import type { KubeObject } from '../api/index.ts';
import { ManualClock } from './clock.ts';
import { Controller, type Reconciler, TerminalError } from './controller.ts';
import { splitKey } from './keys.ts';
import { Manager } from './manager.ts';

describe('Controller', () => {
  it('retries a throw with backoff, rechecks after requeueAfter, forgets on success, drops a terminal error', async () => {
    const clock = new ManualClock();
    const runs: Record<string, number> = {};
    const reconciler: Reconciler = {
      name: 'scripted',
      async reconcile(key) {
        const run = (runs[key] ?? 0) + 1;
        runs[key] = run;
        if (key === 'flaky' && run <= 2) throw new Error('not yet');
        if (key === 'timed' && run === 1) return { requeueAfter: 1000 };
        if (key === 'bad') throw new TerminalError('cannot work');
      },
    };
    const controller = new Controller({ reconciler, workers: 2, clock });
    const stop = new AbortController();
    const running = controller.start(stop.signal);
    for (const key of ['flaky', 'timed', 'bad', 'fine']) controller.enqueue(key);
    await eventually(
      () => runs.flaky === 1 && runs.timed === 1 && runs.bad === 1 && runs.fine === 1,
      'first runs',
    );
    // flaky waits 5 ms, then 10 ms; timed waits 1000 ms; nothing else comes back.
    await eventually(() => controller.queue.delayed === 2, 'flaky and timed wait');
    clock.advance(5);
    await eventually(() => runs.flaky === 2, 'first retry after 5 ms');
    await eventually(() => controller.queue.delayed === 2, 'flaky waits again');
    clock.advance(9);
    assert.equal(runs.flaky, 2, 'the second retry waits 10 ms');
    clock.advance(1);
    await eventually(() => runs.flaky === 3, 'second retry after 10 ms');
    assert.equal(runs.timed, 1);
    clock.advance(1000);
    await eventually(() => runs.timed === 2, 'the timed recheck');
    clock.advance(10_000_000);
    await eventually(() => controller.queue.idle, 'queue drained');
    assert.deepEqual(runs, { flaky: 3, timed: 2, bad: 1, fine: 1 });
    assert.equal(controller.queue.numRequeues('flaky'), 0, 'success forgets the backoff');
    const total = controller.metrics.counter('controller_reconcile_total', '');
    const count = (result: string) => total.get({ controller: 'scripted', result });
    assert.deepEqual(
      [count('success'), count('error'), count('requeue_after'), count('terminal_error')],
      [3, 2, 1, 1],
    );
    assert.match(
      controller.metrics.render(),
      /controller_reconcile_time_seconds_count\{controller="scripted"\} 7/,
    );
    stop.abort();
    await running;
  });

  it('reports its queue depth while it runs, and no depth once stopped', async () => {
    let release: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const controller = new Controller({
      reconciler: {
        name: 'depth',
        async reconcile() {
          await blocked;
        },
      },
    });
    const depth = () => controller.metrics.gauge('workqueue_depth', '').get({ controller: 'depth' });
    assert.equal(depth(), undefined, 'not started');
    const stop = new AbortController();
    const running = controller.start(stop.signal);
    for (const key of ['a', 'b', 'c']) controller.enqueue(key);
    // One key is being reconciled (blocked), two wait.
    await eventually(() => depth() === 2, 'two keys waiting');
    assert.match(controller.metrics.render(), /^workqueue_depth\{controller="depth"\} 2$/m);
    release();
    await eventually(() => depth() === 0, 'queue drained');
    stop.abort();
    await running;
    assert.equal(depth(), undefined, 'a stopped controller reports no depth');
  });

  it('never reconciles one key in two workers at once, and runs it once more for adds during a reconcile', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let runs = 0;
    let release: () => void = () => {};
    const controller = new Controller({
      workers: 4,
      reconciler: {
        name: 'serial',
        async reconcile() {
          runs++;
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
          inFlight--;
        },
      },
    });
    const stop = new AbortController();
    const running = controller.start(stop.signal);
    controller.enqueue('k');
    await eventually(() => runs === 1, 'first run');
    for (let i = 0; i < 10; i++) controller.enqueue('k');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(runs, 1, 'no second run while the first is in flight');
    release();
    await eventually(() => runs === 2 && inFlight === 0, 'one more run');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(runs, 2);
    assert.equal(maxInFlight, 1);
    stop.abort();
    await running;
  });
});

/**
 * A small level-triggered reconciler over ConfigMaps, as the hub's are written: every ConfigMap
 * labelled `mirror=yes` has a `NAME-copy` with the same data. It reads the cache, writes only
 * when the copy differs, and writes with the resourceVersion it read.
 */
function mirrorReconciler(manager: Manager, env: TestService): Reconciler {
  const kind = env.kind('ConfigMap');
  const cache = manager.informer(kind);
  return {
    name: 'mirror',
    async reconcile(key) {
      const { namespace, name } = splitKey(key);
      const source = cache.get(namespace, name);
      if (!source) return;
      if (source.metadata.labels?.mirror !== 'yes') return;
      const copy = cache.get(namespace, `${name}-copy`);
      if (copy && JSON.stringify(copy.data) === JSON.stringify(source.data)) return;
      const body: KubeObject = configMap(`${name}-copy`, source.data as Record<string, string>);
      // A cache behind our own write makes this a 409 (or 409 AlreadyExists): thrown, retried later.
      if (copy) {
        body.metadata.resourceVersion = copy.metadata.resourceVersion;
        await env.service.update(kind, namespace, body.metadata.name!, body, { fieldManager: 'mirror' });
      } else {
        await env.service.create(kind, namespace, body, { fieldManager: 'mirror' });
      }
    },
  };
}

describe('Controller with a real store', () => {
  let env: TestService;
  before(async () => {
    env = await startTestService();
  });
  after(() => env.close());

  it('writes once when a key is reconciled twice, and nothing on a resync when nothing changed', async () => {
    const manager = new Manager({ client: env.service });
    const informer = manager.informer(env.kind('ConfigMap'));
    const controller = manager.controller({ reconciler: mirrorReconciler(manager, env), workers: 2 });
    controller.watch(informer);
    const stop = new AbortController();
    const running = manager.start(stop.signal);
    const writes = await recordWrites(env.store);
    await env.service.create(
      env.kind('ConfigMap'),
      'default',
      configMap('src', { a: '1' }, { labels: { mirror: 'yes' } }),
      {
        fieldManager: 'test',
      },
    );
    await eventually(() => informer.get('default', 'src-copy'), 'the copy is made');
    const reconciles = () =>
      ['success', 'error', 'requeue_after'].reduce(
        (sum, result) =>
          sum +
          manager.metrics.counter('controller_reconcile_total', '').get({ controller: 'mirror', result }),
        0,
      );
    await eventually(() => controller.queue.idle, 'the queue settles');
    const before = reconciles();
    // Twice more by hand, as a duplicate event would.
    controller.enqueue('default/src');
    await eventually(() => reconciles() >= before + 1, 'a second reconcile');
    controller.enqueue('default/src');
    await eventually(() => reconciles() >= before + 2, 'a third reconcile');
    assert.deepEqual(
      writes.writes('/core/configmaps/default/src-copy').map((event) => event.type),
      ['ADDED'],
      'the copy was written once',
    );

    // A resync reconciles every key again; nothing has changed, so nothing is written.
    const revision = await env.store.currentRevision();
    const beforeResync = reconciles();
    informer.resync();
    await eventually(() => reconciles() >= beforeResync + informer.size, 'every key reconciled again');
    assert.equal(await env.store.currentRevision(), revision, 'a resync with nothing changed wrote nothing');

    // A change is still followed, with one write.
    await env.service.patch(
      env.kind('ConfigMap'),
      'default',
      'src',
      'merge',
      { data: { a: '2' } },
      { fieldManager: 'test' },
    );
    await eventually(
      () => (informer.get('default', 'src-copy')?.data as { a?: string } | undefined)?.a === '2',
      'the copy follows the change',
    );
    assert.deepEqual(
      writes.writes('/core/configmaps/default/src-copy').map((event) => event.type),
      ['ADDED', 'MODIFIED'],
    );
    writes.stop();
    stop.abort();
    await running;
  });
});
