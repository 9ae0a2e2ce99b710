import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataOf, doc, listAll, type OpenStore, parseDoc, withStore } from './conformance-support.ts';
import type { Store, StoredObject } from './store.ts';

const keysOf = (items: readonly StoredObject[]) => items.map((item) => item.key);

async function createAll(store: Store, keys: readonly string[]): Promise<Map<string, StoredObject>> {
  const created = new Map<string, StoredObject>();
  for (const key of keys) created.set(key, await store.create(key, doc(`${key}@0`)));
  return created;
}

/** list (prefix, paging, snapshots, filter) and count. */
export function describeLists(open: OpenStore): void {
  describe('list and count', () => {
    it('lists the keys starting with a prefix in key order, read at the head revision', () =>
      withStore(open, async ({ store }) => {
        await createAll(store, ['/b/1', '/a/2', '/a', '/ab/1', '/a/10', '/a/1', '/a/1/x']);
        const head = await store.currentRevision();
        const slash = await store.list({ prefix: '/a/' });
        assert.deepEqual(keysOf(slash.items), ['/a/1', '/a/1/x', '/a/10', '/a/2']);
        assert.equal(slash.revision, head);
        assert.equal(slash.continueAfter, undefined);
        for (const item of slash.items) assert.equal(parseDoc(item.value).revision, item.revision);
        assert.deepEqual(keysOf((await store.list({ prefix: '/a' })).items), [
          '/a',
          '/a/1',
          '/a/1/x',
          '/a/10',
          '/a/2',
          '/ab/1',
        ]);
        assert.equal((await store.list({ prefix: '' })).items.length, 7);
        assert.deepEqual((await store.list({ prefix: '/c/' })).items, []);
      }));

    it('pages with limit and afterKey, and reports no continuation on the last page', () =>
      withStore(open, async ({ store }) => {
        const keys = ['/p/0', '/p/1', '/p/2', '/p/3', '/p/4', '/p/5', '/p/6'];
        await createAll(store, [...keys, '/q/0']);
        const first = await store.list({ prefix: '/p/', limit: 3 });
        assert.deepEqual(keysOf(first.items), ['/p/0', '/p/1', '/p/2']);
        assert.equal(first.continueAfter, '/p/2');
        const second = await store.list({
          prefix: '/p/',
          limit: 3,
          afterKey: '/p/2',
          revision: first.revision,
        });
        assert.deepEqual(keysOf(second.items), ['/p/3', '/p/4', '/p/5']);
        const last = await store.list({
          prefix: '/p/',
          limit: 3,
          afterKey: '/p/5',
          revision: first.revision,
        });
        assert.deepEqual(keysOf(last.items), ['/p/6']);
        assert.equal(last.continueAfter, undefined);
        const exact = await store.list({ prefix: '/p/', limit: 4, afterKey: '/p/2' });
        assert.deepEqual(keysOf(exact.items), ['/p/3', '/p/4', '/p/5', '/p/6']);
        assert.equal(
          exact.continueAfter,
          undefined,
          'a page that ends exactly at the last key is the last page',
        );
        assert.equal(
          (await store.list({ prefix: '/p/', limit: 0 })).items.length,
          keys.length,
          'limit 0: no limit',
        );
        const pages = await listAll(store, '/p/', { limit: 2 });
        assert.deepEqual(keysOf(pages.items), keys);
      }));

    it('keeps every page at the first page revision while keys are created, updated and deleted between pages', () =>
      withStore(open, async ({ store }) => {
        const keys = ['/p/0', '/p/1', '/p/2', '/p/3', '/p/4', '/p/5', '/p/6', '/p/7'];
        const created = await createAll(store, keys);
        const first = await store.list({ prefix: '/p/', limit: 3 });
        const at = first.revision;
        const rev = (key: string) => created.get(key)!.revision;
        // Changes before and after the cursor, and a key that appears between pages.
        await store.update('/p/3', rev('/p/3'), doc('changed'));
        await store.delete('/p/4', rev('/p/4'), doc('/p/4@0'));
        await store.delete('/p/1', rev('/p/1'), doc('/p/1@0'));
        await store.create('/p/25', doc('new'));
        const gone = await store.delete('/p/5', rev('/p/5'), doc('/p/5@0'));
        await store.create('/p/5', doc('reborn'));
        await store.create('/p/9', doc('new'));
        assert.ok(gone.revision > at);
        const items = [...first.items];
        let afterKey = first.continueAfter;
        while (afterKey !== undefined) {
          const page = await store.list({ prefix: '/p/', limit: 3, afterKey, revision: at });
          assert.equal(page.revision, at);
          items.push(...page.items);
          afterKey = page.continueAfter;
        }
        assert.deepEqual(keysOf(items), keys);
        assert.deepEqual(
          items.map((item) => [item.key, item.revision]),
          keys.map((key) => [key, rev(key)]),
        );
        assert.deepEqual(
          Object.values(dataOf(items)),
          keys.map((key) => `${key}@0`),
        );
        const head = dataOf((await store.list({ prefix: '/p/' })).items);
        assert.deepEqual(head, {
          '/p/0': '/p/0@0',
          '/p/2': '/p/2@0',
          '/p/25': 'new',
          '/p/3': 'changed',
          '/p/5': 'reborn',
          '/p/6': '/p/6@0',
          '/p/7': '/p/7@0',
          '/p/9': 'new',
        });
      }));

    it('reads the state as of an older revision, before and after the key changed', () =>
      withStore(open, async ({ store }) => {
        const a = await store.create('/s/a', doc('a1'));
        const b = await store.create('/s/b', doc('b1'));
        const a2 = await store.update('/s/a', a.revision, doc('a2'));
        await store.delete('/s/b', b.revision, doc('b1'));
        await store.create('/s/c', doc('c1'));
        const at = async (revision: number) => dataOf((await store.list({ prefix: '/s/', revision })).items);
        assert.deepEqual(await at(a.revision), { '/s/a': 'a1' });
        assert.deepEqual(await at(b.revision), { '/s/a': 'a1', '/s/b': 'b1' });
        assert.deepEqual(await at(a2.revision), { '/s/a': 'a2', '/s/b': 'b1' });
        assert.deepEqual(await at(a2.revision + 1), { '/s/a': 'a2' });
        assert.deepEqual(await at(await store.currentRevision()), { '/s/a': 'a2', '/s/c': 'c1' });
        const snapshot = await store.list({ prefix: '/s/', revision: b.revision });
        assert.equal(snapshot.revision, b.revision);
        assert.deepEqual(
          snapshot.items.map((item) => item.revision),
          [a.revision, b.revision],
        );
      }));

    it('applies filter before limit, so a page holds limit accepted items', () =>
      withStore(open, async ({ store }) => {
        await createAll(store, ['/f/0', '/f/1', '/f/2', '/f/3', '/f/4', '/f/5', '/f/6']);
        const odd = (object: StoredObject) => Number(object.key.slice(3)) % 2 === 1;
        const first = await store.list({ prefix: '/f/', limit: 2, filter: odd });
        assert.deepEqual(keysOf(first.items), ['/f/1', '/f/3']);
        assert.ok(first.continueAfter !== undefined && first.continueAfter >= '/f/3');
        const rest = await store.list({
          prefix: '/f/',
          limit: 2,
          filter: odd,
          afterKey: first.continueAfter,
          revision: first.revision,
        });
        assert.deepEqual(keysOf(rest.items), ['/f/5']);
        const none = await store.list({ prefix: '/f/', filter: () => false });
        assert.deepEqual(none.items, []);
        assert.equal(none.continueAfter, undefined);
      }));

    it('counts the current keys starting with a prefix', () =>
      withStore(open, async ({ store }) => {
        const created = await createAll(store, ['/c/1', '/c/2', '/c/3', '/cc/1', '/d/1']);
        assert.equal(await store.count('/c/'), 3);
        assert.equal(await store.count('/c'), 4);
        assert.equal(await store.count(''), 5);
        assert.equal(await store.count('/e/'), 0);
        await store.delete('/c/2', created.get('/c/2')!.revision, doc('x'));
        assert.equal(await store.count('/c/'), 2);
      }));
  });
}
