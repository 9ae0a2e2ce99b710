import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertDoc,
  assertIncreasing,
  doc,
  type OpenStore,
  parseDoc,
  withStore,
} from './conformance-support.ts';
import { ConflictError, KeyExistsError, NotFoundError } from './store.ts';

/** Create, get, update and delete with revision preconditions, and the one global revision. */
export function describeWrites(open: OpenStore): void {
  describe('writes', () => {
    it('creates a key that reads back with the revision of its write', () =>
      withStore(open, async ({ store }) => {
        const before = await store.currentRevision();
        const created = assertDoc(await store.create('/a/x', doc('one')), '/a/x', 'one');
        assert.ok(created.revision > before);
        assert.equal(await store.currentRevision(), created.revision);
        assert.deepEqual(await store.get('/a/x'), created);
        assert.equal(await store.get('/a/missing'), undefined);
      }));

    it('rejects creating a key that exists with KeyExistsError and leaves it unchanged', () =>
      withStore(open, async ({ store }) => {
        const created = await store.create('/a/x', doc('one'));
        await assert.rejects(store.create('/a/x', doc('two')), (error) => {
          assert.ok(error instanceof KeyExistsError);
          assert.equal(error.key, '/a/x');
          return true;
        });
        assert.deepEqual(await store.get('/a/x'), created);
        assert.equal(await store.currentRevision(), created.revision, 'a refused write takes no revision');
      }));

    it('updates a key at its current revision and rejects a stale revision with ConflictError', () =>
      withStore(open, async ({ store }) => {
        const created = await store.create('/a/x', doc('one'));
        const updated = assertDoc(await store.update('/a/x', created.revision, doc('two')), '/a/x', 'two');
        assert.ok(updated.revision > created.revision);
        await assert.rejects(store.update('/a/x', created.revision, doc('three')), (error) => {
          assert.ok(error instanceof ConflictError);
          assert.deepEqual(
            [error.key, error.expected, error.actual],
            ['/a/x', created.revision, updated.revision],
          );
          return true;
        });
        assert.deepEqual(await store.get('/a/x'), updated);
      }));

    it('rejects updating or deleting a missing key with NotFoundError', () =>
      withStore(open, async ({ store }) => {
        await assert.rejects(store.update('/a/x', 1, doc('one')), NotFoundError);
        await assert.rejects(store.delete('/a/x', 1, doc('one')), NotFoundError);
        const created = await store.create('/a/x', doc('one'));
        await store.delete('/a/x', created.revision, doc('one'));
        await assert.rejects(store.update('/a/x', created.revision, doc('two')), NotFoundError);
        await assert.rejects(store.delete('/a/x', created.revision, doc('two')), NotFoundError);
      }));

    it('deletes a key at its current revision, returning the tombstone at the delete revision', () =>
      withStore(open, async ({ store }) => {
        const created = await store.create('/a/x', doc('one'));
        const updated = await store.update('/a/x', created.revision, doc('two'));
        await assert.rejects(store.delete('/a/x', created.revision, doc('two')), ConflictError);
        assert.ok(await store.get('/a/x'), 'a refused delete keeps the key');
        const deleted = assertDoc(await store.delete('/a/x', updated.revision, doc('two')), '/a/x', 'two');
        assert.ok(deleted.revision > updated.revision);
        assert.equal(await store.currentRevision(), deleted.revision);
        assert.equal(await store.get('/a/x'), undefined);
        const again = await store.create('/a/x', doc('three'));
        assert.ok(again.revision > deleted.revision, 'a re-created key gets a new revision');
      }));

    it('hands render the revision the write gets, so the stored text carries it', () =>
      withStore(open, async ({ store }) => {
        const seen: number[] = [];
        const render = (data: string) => (revision: number) => {
          seen.push(revision);
          return doc(data)(revision);
        };
        // An engine may render again when it retries; the last rendering is the one stored.
        const created = await store.create('/a/x', render('one'));
        assert.equal(seen.at(-1), created.revision);
        const updated = await store.update('/a/x', created.revision, render('two'));
        assert.equal(seen.at(-1), updated.revision);
        const deleted = await store.delete('/a/x', updated.revision, render('two'));
        assert.equal(seen.at(-1), deleted.revision);
        for (const object of [created, updated, deleted])
          assert.equal(parseDoc(object.value).revision, object.revision);
      }));

    it('gives every write one global, strictly increasing revision across keys', () =>
      withStore(open, async ({ store }) => {
        const revisions: number[] = [];
        for (const key of ['/a/1', '/b/1', '/a/2'])
          revisions.push((await store.create(key, doc(key))).revision);
        revisions.push((await store.update('/b/1', revisions[1]!, doc('b'))).revision);
        revisions.push((await store.delete('/a/1', revisions[0]!, doc('/a/1'))).revision);
        assertIncreasing(revisions, 'write revisions');
        assert.equal(await store.currentRevision(), revisions.at(-1));
      }));

    it('never reuses a revision, also after deleting the newest key and reopening', async (t) =>
      withStore(open, async ({ store, reopen }) => {
        const created = await store.create('/a/x', doc('one'));
        const deleted = await store.delete('/a/x', created.revision, doc('one'));
        await store.compact(deleted.revision);
        if (!reopen) {
          t.skip('the engine cannot reopen');
          return;
        }
        const reopened = await reopen();
        assert.equal(await reopened.currentRevision(), deleted.revision);
        const next = await reopened.create('/a/x', doc('two'));
        assert.ok(
          next.revision > deleted.revision,
          `revision ${next.revision} reused after ${deleted.revision}`,
        );
      }));

    it('fails only the write whose precondition fails in a batch of concurrent writes', () =>
      withStore(open, async ({ store }) => {
        const existing = await store.create('/a/existing', doc('e'));
        const stale = await store.create('/a/stale', doc('s0'));
        await store.update('/a/stale', stale.revision, doc('s1'));
        const outcomes = await Promise.allSettled([
          store.create('/a/1', doc('1')),
          store.create('/a/existing', doc('dup')),
          store.create('/a/2', doc('2')),
          store.update('/a/stale', stale.revision, doc('s2')),
          store.update('/a/missing', 1, doc('m')),
          store.update('/a/existing', existing.revision, doc('e2')),
          store.create('/a/3', doc('3')),
        ]);
        const reasons = outcomes.map((outcome) =>
          outcome.status === 'rejected' ? outcome.reason : undefined,
        );
        assert.ok(reasons[1] instanceof KeyExistsError);
        assert.ok(reasons[3] instanceof ConflictError);
        assert.ok(reasons[4] instanceof NotFoundError);
        const written = outcomes.flatMap((outcome) =>
          outcome.status === 'fulfilled' ? [outcome.value] : [],
        );
        assert.deepEqual(
          written.map((object) => [object.key, parseDoc(object.value).data]),
          [
            ['/a/1', '1'],
            ['/a/2', '2'],
            ['/a/existing', 'e2'],
            ['/a/3', '3'],
          ],
        );
        assert.equal(
          new Set(written.map((object) => object.revision)).size,
          written.length,
          'distinct revisions',
        );
        for (const object of written) assert.deepEqual(await store.get(object.key), object);
        assert.equal(await store.currentRevision(), Math.max(...written.map((object) => object.revision)));
      }));

    it('fails only its own write when render throws, and stores nothing for it', () =>
      withStore(open, async ({ store }) => {
        const failing = store.create('/a/bad', () => {
          throw new Error('cannot render');
        });
        const good = store.create('/a/good', doc('g'));
        await assert.rejects(failing, /cannot render/);
        assertDoc(await good, '/a/good', 'g');
        assert.equal(await store.get('/a/bad'), undefined);
        assert.equal(await store.count('/a/'), 1);
      }));
  });
}
