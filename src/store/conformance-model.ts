import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  doc,
  listAll,
  type OpenStore,
  parseDoc,
  Recorder,
  watchScope,
  withStore,
} from './conformance-support.ts';
import {
  ConflictError,
  ExpiredError,
  KeyExistsError,
  NotFoundError,
  type Store,
  type StoredObject,
  type WatchEvent,
} from './store.ts';

const KEYS = ['/a/1', '/a/2', '/a/10', '/b/1', '/b/1/x', '/c'] as const;
const PREFIXES = ['', '/', '/a/', '/a/1', '/b/', '/b/1', '/c', '/d/'] as const;

type Op =
  | { readonly kind: 'create'; readonly key: string }
  | { readonly kind: 'update' | 'delete'; readonly key: string; readonly stale: boolean }
  | { readonly kind: 'list'; readonly prefix: string; readonly limit: number; readonly back: number }
  | { readonly kind: 'compact'; readonly back: number }
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'count'; readonly prefix: string };

const key = fc.constantFrom(...KEYS);
/** A recorded revision, counted back from the newest: recent history is where compaction bites. */
const back = fc.nat(12);
const prefix = fc.constantFrom(...PREFIXES);
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('create' as const), key }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('update' as const), key, stale: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key, stale: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('list' as const), prefix, limit: fc.nat(4), back }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), back }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('get' as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('count' as const), prefix }) },
);

/** The store as a list of states, one per revision, and the events between them. */
class Model {
  readonly #states: Array<{ revision: number; state: ReadonlyMap<string, StoredObject> }>;
  readonly events: WatchEvent[] = [];
  compacted: number;

  constructor(revision: number, compacted: number) {
    this.#states = [{ revision, state: new Map() }];
    this.compacted = compacted;
  }

  get revision(): number {
    return this.#states.at(-1)!.revision;
  }

  get head(): ReadonlyMap<string, StoredObject> {
    return this.#states.at(-1)!.state;
  }

  /** The state as of `revision`: the newest state at or below it. */
  stateAt(revision: number): ReadonlyMap<string, StoredObject> {
    let found = this.#states[0]!;
    for (const entry of this.#states) if (entry.revision <= revision) found = entry;
    return found.state;
  }

  list(prefix: string, revision: number): StoredObject[] {
    return [...this.stateAt(revision).values()]
      .filter((object) => object.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Records a committed write; the store chose the revision, the model checks it is the next one up. */
  commit(type: WatchEvent['type'], object: StoredObject): void {
    assert.ok(object.revision > this.revision, `revision ${object.revision} after ${this.revision}`);
    const before = this.head.get(object.key);
    const state = new Map(this.head);
    if (type === 'DELETED') state.delete(object.key);
    else state.set(object.key, object);
    this.#states.push({ revision: object.revision, state });
    const event: WatchEvent = { type, key: object.key, revision: object.revision, value: object.value };
    this.events.push(before ? { ...event, prevValue: before.value } : event);
  }
}

/** Applies one write to the store and checks it against what the model predicts. */
async function write(
  store: Store,
  model: Model,
  op: Op & { kind: 'create' | 'update' | 'delete' },
  data: string,
) {
  const current = model.head.get(op.key);
  if (op.kind === 'create') {
    if (current) return assert.rejects(store.create(op.key, doc(data)), KeyExistsError);
    return model.commit('ADDED', checked(await store.create(op.key, doc(data)), op.key, data));
  }
  const expected = current && !op.stale ? current.revision : (current?.revision ?? 0) + 1;
  const attempt =
    op.kind === 'update'
      ? store.update(op.key, expected, doc(data))
      : store.delete(op.key, expected, doc(current ? parseDoc(current.value).data : data));
  if (!current) return assert.rejects(attempt, NotFoundError);
  if (op.stale) return assert.rejects(attempt, ConflictError);
  const lastData = op.kind === 'delete' ? parseDoc(current.value).data : data;
  model.commit(op.kind === 'update' ? 'MODIFIED' : 'DELETED', checked(await attempt, op.key, lastData));
}

function checked(object: StoredObject, key: string, data: string): StoredObject {
  assert.equal(object.key, key);
  assert.deepEqual(parseDoc(object.value), { revision: object.revision, data });
  return object;
}

/** Lists the store at `revision` in pages of `limit` and compares with the model, or expects ExpiredError. */
async function checkList(store: Store, model: Model, prefix: string, revision: number, limit: number) {
  if (revision < model.compacted) {
    await assert.rejects(store.list({ prefix, revision }), ExpiredError);
    return;
  }
  const listed = await listAll(store, prefix, { revision, limit });
  assert.equal(listed.revision, revision);
  assert.deepEqual(
    listed.items,
    model.list(prefix, revision),
    `list ${prefix || '(all)'} at ${revision} by ${limit}`,
  );
}

async function run(store: Store, ops: readonly Op[]): Promise<void> {
  const model = new Model(await store.currentRevision(), await store.compactedRevision());
  const recorded = [model.revision];
  const everything = new Recorder();
  const controller = new AbortController();
  await store.watch(
    { prefix: '', afterRevision: model.revision, signal: controller.signal },
    everything.sink,
  );
  for (const [index, op] of ops.entries()) {
    const at = (back: number) => recorded[Math.max(0, recorded.length - 1 - back)]!;
    switch (op.kind) {
      case 'create':
      case 'update':
      case 'delete':
        await write(store, model, op, `d${index}`);
        break;
      case 'list':
        await checkList(store, model, op.prefix, at(op.back), op.limit);
        break;
      case 'compact': {
        const target = at(op.back);
        model.compacted = Math.max(model.compacted, Math.min(target, model.revision));
        assert.equal(await store.compact(target), model.compacted);
        break;
      }
      case 'get':
        assert.deepEqual(await store.get(op.key), model.head.get(op.key));
        break;
      case 'count':
        assert.equal(await store.count(op.prefix), model.list(op.prefix, model.revision).length);
        break;
    }
    assert.equal(await store.currentRevision(), model.revision);
    assert.equal(await store.compactedRevision(), model.compacted);
    recorded.push(model.revision);
  }
  // Every recorded revision still reads the same as the model (or has expired), for every prefix.
  for (const revision of new Set(recorded)) {
    for (const prefix of PREFIXES) await checkList(store, model, prefix, revision, 2);
  }
  if (model.events.length > 0) await everything.untilRevision(model.revision);
  assert.deepEqual(everything.events, model.events, 'a watch of everything saw every write once, in order');
  controller.abort();
  for (const revision of new Set(recorded.filter((revision) => revision >= model.compacted))) {
    for (const scope of ['/a/', '/b/1', '/c']) {
      const watcher = new Recorder();
      const stop = new AbortController();
      await store.watch({ prefix: scope, afterRevision: revision, signal: stop.signal }, watcher.sink);
      const expected = model.events.filter(
        (event) => event.revision > revision && watchScope(scope, event.key),
      );
      if (expected.length > 0) await watcher.untilRevision(expected.at(-1)!.revision);
      assert.deepEqual(watcher.events, expected, `watch ${scope} from ${revision}`);
      stop.abort();
    }
  }
}

/** A property test: random operations give the store and a simple model the same results. */
export function describeModel(open: OpenStore): void {
  describe('model', () => {
    it('agrees with an in-memory model on every result and on the list at every recorded revision', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArbitrary, { maxLength: 40 }), (ops) =>
          withStore(open, ({ store }) => run(store, ops)),
        ),
        { numRuns: 100 },
      );
    });
  });
}
