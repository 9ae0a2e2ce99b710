import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  doc,
  Journal,
  type OpenStore,
  parseDoc,
  type RecordedWatch,
  Recorder,
  record,
  summary,
  withStore,
} from './conformance-support.ts';

/** Waits until a watch has every event the journal expects for it, then compares them exactly. */
async function assertDelivered(
  journal: Journal,
  watch: RecordedWatch,
  prefix: string,
  after: number,
): Promise<void> {
  const expected = journal.after(prefix, after);
  const last = expected.at(-1);
  if (last) await watch.recorder.untilRevision(last.revision);
  assert.deepEqual(
    summary(watch.recorder.events),
    summary(expected),
    `watch of ${prefix || '(everything)'} from ${after}`,
  );
  assert.deepEqual(watch.recorder.events, expected);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** watch: ordering, exactly-once delivery, scoping, the backlog/live seam, abort. */
export function describeWatch(open: OpenStore): void {
  describe('watch', () => {
    it('delivers every event after the start revision once, in order, with prevValue and the last value on DELETED', () =>
      withStore(open, async ({ store }) => {
        const journal = new Journal(store);
        const start = await store.currentRevision();
        const live = await record(store, '/w/', start);
        await journal.create('/w/a', 'a1');
        const a2 = await journal.update('/w/a', 'a2');
        await journal.create('/w/b', 'b1');
        const fromBacklog = await record(store, '/w/', start);
        const fromMiddle = await record(store, '/w/', a2.revision);
        const head = await store.currentRevision();
        const fromHead = await record(store, '/w/', head);
        const deleted = await journal.delete('/w/a');
        await journal.create('/w/a', 'a3');
        await journal.update('/w/b', 'b2');
        for (const watch of [live, fromBacklog]) await assertDelivered(journal, watch, '/w/', start);
        await assertDelivered(journal, fromMiddle, '/w/', a2.revision);
        await assertDelivered(journal, fromHead, '/w/', head);
        assert.deepEqual(
          summary(fromBacklog.recorder.events).map(([type, key, , data, prev]) => [type, key, data, prev]),
          [
            ['ADDED', '/w/a', 'a1', undefined],
            ['MODIFIED', '/w/a', 'a2', 'a1'],
            ['ADDED', '/w/b', 'b1', undefined],
            ['DELETED', '/w/a', 'a2', 'a2'],
            ['ADDED', '/w/a', 'a3', undefined],
            ['MODIFIED', '/w/b', 'b2', 'b1'],
          ],
        );
        assert.equal(fromHead.recorder.events[0]?.revision, deleted.revision);
        const tombstone = fromBacklog.recorder.events[3]!;
        assert.equal(
          parseDoc(tombstone.value).revision,
          deleted.revision,
          'the tombstone carries the delete revision',
        );
        for (const watch of [live, fromBacklog, fromMiddle, fromHead]) watch.controller.abort();
      }));

    it('scopes a watch to every key, a /-ending prefix or exactly one key, from the backlog and live', () =>
      withStore(open, async ({ store }) => {
        const journal = new Journal(store);
        const start = await store.currentRevision();
        const prefixes = ['', '/s/', '/s/a', '/s/a/', '/t/'];
        const live = await Promise.all(prefixes.map((prefix) => record(store, prefix, start)));
        for (const key of ['/s/a', '/s/a/x', '/s/ab', '/s/b', '/t/a', '/sa', '/s'])
          await journal.create(key, key);
        await journal.update('/s/ab', 'ab2');
        await journal.delete('/s/b');
        await journal.delete('/t/a');
        // The last writes are in scope of every watch, so any stray event would have come before them.
        await journal.update('/s/a', 'fence');
        await journal.update('/s/a/x', 'fence');
        await journal.create('/t/fence', 'fence');
        const backlog = await Promise.all(prefixes.map((prefix) => record(store, prefix, start)));
        for (const [index, prefix] of prefixes.entries()) {
          await assertDelivered(journal, live[index]!, prefix, start);
          await assertDelivered(journal, backlog[index]!, prefix, start);
        }
        assert.deepEqual(
          live[2]!.recorder.events.map((event) => event.key),
          ['/s/a', '/s/a'],
        );
        for (const watch of [...live, ...backlog]) watch.controller.abort();
      }));

    it('delivers backlog then live events with no gap or duplicate while writes race the watch start', () =>
      withStore(open, async ({ store }) => {
        const journal = new Journal(store);
        const initial = await store.currentRevision();
        const keys = ['/r/0', '/r/1', '/r/2', '/r/3', '/r/4'];
        const writing = (async () => {
          for (let round = 0; round < 60; round++) {
            // Bursts of concurrent writes to distinct keys; deletes make keys come and go.
            await Promise.all(
              keys.map((key) =>
                round % 3 === 2 ? journal.delete(key) : journal.write(key, `${key}#${round}`),
              ),
            );
          }
        })();
        const watches: Array<{ watch: RecordedWatch; after: number }> = [];
        for (let index = 0; index < 40; index++) {
          await nextTurn();
          let head = await store.currentRevision();
          // The second half starts once writing has begun, however slow a loaded machine makes the first commit.
          while (index >= 20 && head === initial) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            head = await store.currentRevision();
          }
          const after = index % 2 === 0 ? head : Math.max(initial, head - 7);
          watches.push({ watch: await record(store, '/r/', after), after });
        }
        await writing;
        await journal.create('/r/fence', 'fence');
        assert.ok(
          watches.some(({ after }) => after > initial),
          'some watches started while writing',
        );
        for (const { watch, after } of watches) {
          await assertDelivered(journal, watch, '/r/', after);
          watch.controller.abort();
        }
      }));

    it('serves many concurrent watchers, each with exactly the events in its scope', () =>
      withStore(open, async ({ store }) => {
        const journal = new Journal(store);
        const start = await store.currentRevision();
        const prefixes = Array.from({ length: 150 }, (_, index) =>
          index % 3 === 0 ? '/m/' : index % 3 === 1 ? `/m/k${index % 10}` : `/m/k${index % 10}/`,
        );
        const watches = await Promise.all(prefixes.map((prefix) => record(store, prefix, start)));
        await Promise.all(Array.from({ length: 10 }, (_, index) => journal.create(`/m/k${index}`, 'v1')));
        await Promise.all(Array.from({ length: 10 }, (_, index) => journal.create(`/m/k${index}/sub`, 'v1')));
        await Promise.all(Array.from({ length: 10 }, (_, index) => journal.update(`/m/k${index}`, 'v2')));
        await Promise.all(Array.from({ length: 10 }, (_, index) => journal.update(`/m/k${index}/sub`, 'v2')));
        for (const [index, prefix] of prefixes.entries()) {
          await assertDelivered(journal, watches[index]!, prefix, start);
          watches[index]!.controller.abort();
        }
      }));

    it('ends a watch when its signal aborts, resolving done and delivering nothing more', () =>
      withStore(open, async ({ store }) => {
        const start = await store.currentRevision();
        const stopped = await record(store, '/x/', start);
        const running = await record(store, '/x/', start);
        const first = await store.create('/x/a', doc('1'));
        await stopped.recorder.untilRevision(first.revision);
        stopped.controller.abort();
        await stopped.done;
        const second = await store.update('/x/a', first.revision, doc('2'));
        await running.recorder.untilRevision(second.revision);
        assert.deepEqual(
          stopped.recorder.events.map((event) => event.revision),
          [first.revision],
        );
        running.controller.abort();
        await running.done;
        const controller = new AbortController();
        controller.abort();
        const never = new Recorder();
        const watch = await store.watch(
          { prefix: '/x/', afterRevision: start, signal: controller.signal },
          never.sink,
        );
        await watch.done;
        assert.deepEqual(never.events, [], 'a watch started with an aborted signal delivers nothing');
      }));

    it('delivers nothing at or below a start revision beyond the head', () =>
      withStore(open, async ({ store }) => {
        const head = await store.currentRevision();
        const watch = await record(store, '/f/', head + 2);
        let last = 0;
        for (let index = 0; index < 4; index++)
          last = (await store.create(`/f/${index}`, doc(String(index)))).revision;
        await watch.recorder.untilRevision(last);
        assert.ok(watch.recorder.events.every((event) => event.revision > head + 2));
        assert.ok(watch.recorder.events.length > 0);
        watch.controller.abort();
      }));

    it('ends only the watch whose sink throws, rejecting its done, and keeps serving writers and other watches', () =>
      withStore(open, async ({ store }) => {
        const start = await store.currentRevision();
        const healthy = await record(store, '/e/', start);
        const broken = await store.watch(
          { prefix: '/e/', afterRevision: start, signal: new AbortController().signal },
          () => {
            throw new Error('sink broke');
          },
        );
        const ended = assert.rejects(broken.done);
        const first = await store.create('/e/a', doc('1'));
        await ended;
        const second = await store.update('/e/a', first.revision, doc('2'));
        await healthy.recorder.untilRevision(second.revision);
        assert.equal(healthy.recorder.events.length, 2);
        healthy.controller.abort();
      }));
  });
}
