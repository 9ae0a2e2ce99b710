import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compareObjects } from './compare.ts';
import { FieldSet } from './fieldset.ts';
import { mergedOrder, mergeValues, removeFields } from './merge.ts';
import { formatPath } from './path.ts';
import type { IndexedList } from './shape.ts';
import { schema } from './widget.fixture.ts';

function indexed(order: string[]): IndexedList {
  return { order, items: new Map(order.map((el) => [el, el])) };
}

describe('mergedOrder', () => {
  test('puts applied items in applied order and keeps live-only items after the shared item before them', () => {
    assert.deepEqual(mergedOrder(indexed(['a', 'b', 'c']), indexed(['c', 'a'])), ['b', 'c', 'a']);
    assert.deepEqual(mergedOrder(indexed(['x', 'y']), indexed(['z', 'x'])), ['z', 'x', 'y']);
  });

  test('emits every item exactly once, keeps the applied order, and is stable when merged again', () => {
    const uniqueList = fc.uniqueArray(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e', 'f', 'g'), {
      maxLength: 7,
    });
    fc.assert(
      fc.property(uniqueList, uniqueList, (live, applied) => {
        const out = mergedOrder(indexed(live), indexed(applied));
        assert.deepEqual([...out].sort(), [...new Set([...live, ...applied])].sort());
        assert.deepEqual(
          out.filter((el) => applied.includes(el)),
          applied,
        );
        assert.deepEqual(mergedOrder(indexed(out), indexed(applied)), out);
      }),
    );
  });
});

describe('mergeValues', () => {
  test('merges struct fields key by key and replaces leaves', () => {
    const live = { spec: { replicas: 1, paused: false } };
    const applied = { spec: { replicas: 2 } };
    assert.deepEqual(mergeValues(live, applied, schema), { spec: { replicas: 2, paused: false } });
  });

  test('replaces a value whose type changed as a whole', () => {
    const merged = mergeValues(
      { spec: { config: { a: { b: 1 } } } },
      { spec: { config: { a: 'text' } } },
      schema,
    );
    assert.deepEqual(merged, { spec: { config: { a: 'text' } } });
  });

  test('does not modify its inputs', () => {
    const live = { spec: { containers: [{ name: 'a', image: '1' }] } };
    const applied = { spec: { containers: [{ name: 'a', image: '2' }, { name: 'b' }] } };
    const copies = structuredClone([live, applied]);
    mergeValues(live, applied, schema);
    assert.deepEqual([live, applied], copies);
  });
});

describe('removeFields', () => {
  test('drops a container emptied by the removal but keeps one that was empty already', () => {
    const value = { spec: { strategy: { type: 'x' }, config: {} } };
    const out = removeFields(value, schema, FieldSet.of(['f:spec', 'f:strategy', 'f:type']));
    assert.deepEqual(out, { spec: { config: {} } });
  });

  test('keeps a struct field another manager owns something below', () => {
    const value = { spec: { strategy: { type: 'x', maxSurge: 1 } } };
    const remove = FieldSet.of(['f:spec', 'f:strategy'], ['f:spec', 'f:strategy', 'f:type']);
    const keep = FieldSet.of(['f:spec', 'f:strategy', 'f:maxSurge']);
    assert.deepEqual(removeFields(value, schema, remove, keep), { spec: { strategy: { maxSurge: 1 } } });
  });
});

describe('compareObjects', () => {
  test('reports leaves added, changed and removed, and granular containers that appear or disappear', () => {
    const before = { spec: { replicas: 1, tags: ['a'], containers: [{ name: 'x', image: '1' }] } };
    const after = { spec: { replicas: 2, tags: ['a', 'b'], strategy: { type: 'R' } } };
    const c = compareObjects(before, after, schema);
    assert.deepEqual(c.modified.paths().map(formatPath), ['.spec.replicas']);
    assert.deepEqual(c.added.paths().map(formatPath), [
      '.spec.strategy',
      '.spec.strategy.type',
      '.spec.tags[="b"]',
    ]);
    assert.deepEqual(c.removed.paths().map(formatPath), [
      '.spec.containers',
      '.spec.containers[name="x"]',
      '.spec.containers[name="x"].image',
      '.spec.containers[name="x"].name',
    ]);
  });
});
