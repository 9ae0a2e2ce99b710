import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startCompactor } from './compactor.ts';
import { dataOf, doc, Journal, type OpenStore, record, summary, withStore } from './conformance-support.ts';
import { ExpiredError, type Store } from './store.ts';

function isExpired(requested: number, compacted: number): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ExpiredError, `expected ExpiredError, got ${String(error)}`);
    assert.deepEqual([error.requested, error.compacted], [requested, compacted]);
    return true;
  };
}

/**
 * A store that counts compactor ticks (each tick reads the head once), so the
 * test waits for ticks instead of sleeping.
 */
function countingTicks(store: Store): { store: Store; nextTicks: (count: number) => Promise<void> } {
  let ticks = 0;
  const waiters: Array<{ at: number; wake: () => void }> = [];
  const counted = new Proxy(store, {
    get(target, property) {
      if (property === 'currentRevision') {
        return () => {
          ticks++;
          for (const waiter of waiters.filter((entry) => entry.at <= ticks)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.wake();
          }
          return target.currentRevision();
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  // The deadline also keeps the event loop alive: the compactor's own timer is unref'd.
  const nextTicks = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the compactor did not tick ${count} times`)), 5_000);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      waiters.push({ at: ticks + count, wake });
    });
  return { store: counted, nextTicks };
}

/** compact() and the periodic compactor. */
export function describeCompaction(open: OpenStore): void {
  describe('compaction', () => {
    it('expires snapshot lists and watches below the compacted revision and serves those at or above it', () =>
      withStore(open, async ({ store }) => {
        const journal = new Journal(store);
        const revisions: number[] = [];
        for (const key of ['/k/1', '/k/2', '/k/3', '/k/4', '/k/5'])
          revisions.push((await journal.create(key, key)).revision);
        const [, r2, r3] = revisions as [number, number, number];
        assert.equal(await store.compact(r3), r3);
        assert.equal(await store.compactedRevision(), r3);
        await assert.rejects(store.list({ prefix: '/k/', revision: r2 }), isExpired(r2, r3));
        await assert.rejects(
          store.watch({ prefix: '/k/', afterRevision: r2, signal: AbortSignal.abort() }, () => {}),
          isExpired(r2, r3),
        );
        assert.deepEqual(Object.keys(dataOf((await store.list({ prefix: '/k/', revision: r3 })).items)), [
          '/k/1',
          '/k/2',
          '/k/3',
        ]);
        const watch = await record(store, '/k/', r3);
        await journal.update('/k/1', 'again');
        await watch.recorder.untilRevision(journal.current('/k/1')!.revision);
        assert.deepEqual(summary(watch.recorder.events), summary(journal.after('/k/', r3)));
        watch.controller.abort();
      }));

    it('keeps snapshot lists exact at revisions between an update and a later delete', () =>
      withStore(open, async ({ store }) => {
        const journal = new Journal(store);
        await journal.create('/s/a', 'a1');
        const r2 = (await journal.update('/s/a', 'a2')).revision;
        const r3 = (await journal.create('/s/b', 'b1')).revision;
        const r4 = (await journal.delete('/s/a')).revision;
        await journal.create('/s/c', 'c1');
        const at = async (revision: number) => dataOf((await store.list({ prefix: '/s/', revision })).items);
        await store.compact(r2);
        assert.deepEqual(await at(r2), { '/s/a': 'a2' });
        assert.deepEqual(await at(r3), { '/s/a': 'a2', '/s/b': 'b1' });
        assert.deepEqual(await at(r4), { '/s/b': 'b1' });
        await store.compact(r3);
        assert.deepEqual(await at(r3), { '/s/a': 'a2', '/s/b': 'b1' });
        const paged = await store.list({ prefix: '/s/', revision: r3, limit: 1 });
        assert.deepEqual(dataOf(paged.items), { '/s/a': 'a2' });
        const rest = await store.list({
          prefix: '/s/',
          revision: r3,
          limit: 1,
          afterKey: paged.continueAfter,
        });
        assert.deepEqual(dataOf(rest.items), { '/s/b': 'b1' });
        const watch = await record(store, '/s/', r3);
        const events = journal.after('/s/', r3);
        await watch.recorder.untilRevision(events.at(-1)!.revision);
        assert.deepEqual(
          watch.recorder.events,
          events,
          'the delete after the compacted revision keeps its prevValue',
        );
        watch.controller.abort();
      }));

    it('never loses the current value of a live key, however old its last write', () =>
      withStore(open, async ({ store }) => {
        const journal = new Journal(store);
        await journal.create('/l/old', 'old');
        await journal.create('/l/busy', 'b0');
        for (let index = 1; index <= 5; index++) await journal.update('/l/busy', `b${index}`);
        await journal.create('/l/reborn', 'r1');
        await journal.delete('/l/reborn');
        await journal.create('/l/reborn', 'r2');
        await journal.create('/l/gone', 'g');
        await journal.delete('/l/gone');
        const head = await store.currentRevision();
        assert.equal(await store.compact(head), head);
        for (const key of ['/l/old', '/l/busy', '/l/reborn'])
          assert.deepEqual(await store.get(key), journal.current(key));
        assert.equal(await store.get('/l/gone'), undefined);
        assert.deepEqual(dataOf((await store.list({ prefix: '/l/' })).items), {
          '/l/busy': 'b5',
          '/l/old': 'old',
          '/l/reborn': 'r2',
        });
        assert.deepEqual(dataOf((await store.list({ prefix: '/l/', revision: head })).items), {
          '/l/busy': 'b5',
          '/l/old': 'old',
          '/l/reborn': 'r2',
        });
        assert.equal(await store.count('/l/'), 3);
        const watch = await record(store, '/l/', head);
        await journal.update('/l/old', 'new');
        await journal.delete('/l/busy');
        await watch.recorder.untilRevision(await store.currentRevision());
        assert.deepEqual(watch.recorder.events, journal.after('/l/', head), 'prevValue survives compaction');
        watch.controller.abort();
      }));

    it('clamps compaction to the head and never moves the compacted revision back', () =>
      withStore(open, async ({ store, reopen }) => {
        const first = await store.create('/c/a', doc('1'));
        await store.update('/c/a', first.revision, doc('2'));
        const head = await store.currentRevision();
        assert.equal(await store.compact(head + 100), head);
        assert.equal(await store.compact(first.revision), head);
        assert.equal(await store.compactedRevision(), head);
        const next = await store.create('/c/b', doc('b'));
        assert.ok(next.revision > head);
        if (reopen) {
          const reopened = await reopen();
          assert.equal(await reopened.compactedRevision(), head, 'the compacted revision survives a reopen');
          await assert.rejects(reopened.list({ prefix: '/c/', revision: head - 1 }), ExpiredError);
        }
      }));

    it('compacts periodically only the history older than the retention, on a monotonic clock', () =>
      withStore(open, async ({ store }) => {
        let now = 0;
        const counted = countingTicks(store);
        const controller = new AbortController();
        const initial = await store.compactedRevision();
        // A tick's compaction may finish after later ticks (an engine's compact takes a round trip
        // to its database or writer thread): wait some ticks, then for the compaction itself.
        const compactedTo = async (revision: number) => {
          await counted.nextTicks(3);
          for (let tick = 0; tick < 1000 && (await store.compactedRevision()) < revision; tick++) {
            await counted.nextTicks(1);
          }
        };
        startCompactor(counted.store, {
          retentionMs: 5_000,
          intervalMs: 1,
          monotonicNow: () => now,
          signal: controller.signal,
        });
        try {
          const early = await store.create('/t/a', doc('1'));
          await counted.nextTicks(2); // sampled at 0 with `early` as the head
          now = 1_000;
          const late = await store.update('/t/a', early.revision, doc('2'));
          await counted.nextTicks(2); // sampled at 1000 with `late` as the head
          now = 4_999;
          await counted.nextTicks(3);
          assert.equal(await store.compactedRevision(), initial, 'nothing is older than the retention yet');
          now = 5_500;
          await compactedTo(early.revision);
          assert.equal(
            await store.compactedRevision(),
            early.revision,
            'history older than 5 s is forgotten',
          );
          await store.list({ prefix: '/t/', revision: early.revision });
          now = 6_000;
          await compactedTo(late.revision);
          assert.equal(await store.compactedRevision(), late.revision);
        } finally {
          controller.abort();
        }
      }));
  });
}
