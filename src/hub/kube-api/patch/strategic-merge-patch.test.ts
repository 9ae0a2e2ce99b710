import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { assertUnshared, frozen, mergeItemMeta as meta } from './patch.fixture.ts';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';

interface Case {
  name: string;
  original: string;
  patch: string;
  result: string;
}

/** Cases in YAML for readability; each states behaviour Kubernetes documents or tests upstream. */
const cases: Case[] = [
  // Maps.
  { name: 'adds a field to a map', original: 'name: 1', patch: 'value: 1', result: '{name: 1, value: 1}' },
  {
    name: 'deletes a map key with null',
    original: '{name: 1, value: 1}',
    patch: 'name: null',
    result: 'value: 1',
  },
  {
    name: 'ignores null for a key that is absent',
    original: 'name: 1',
    patch: 'other: null',
    result: 'name: 1',
  },
  {
    name: 'merges nested maps key by key',
    original: 'simpleMap: {key1: a, key2: b}',
    patch: 'simpleMap: {key2: x, key3: c, key1: null}',
    result: 'simpleMap: {key2: x, key3: c}',
  },
  {
    name: 'replaces a map wholesale with $patch: replace',
    original: '{name: 1, value: 1}',
    patch: '{other: a, $patch: replace}',
    result: 'other: a',
  },
  {
    name: 'empties a map with $patch: replace and nothing else',
    original: '{name: 1}',
    patch: '$patch: replace',
    result: '{}',
  },
  {
    name: 'empties a nested map with $patch: delete',
    original: 'simpleMap: {key1: 1, key2: 1}',
    patch: 'simpleMap: {$patch: delete}',
    result: 'simpleMap: {}',
  },
  {
    name: 'accepts $patch: merge as the default behaviour',
    original: 'simpleMap: {key1: a}',
    patch: 'simpleMap: {$patch: merge, key2: b}',
    result: 'simpleMap: {key1: a, key2: b}',
  },
  {
    name: 'replaces a field with the replace strategy instead of merging it',
    original: 'replacingItem: {a: 1, b: 2}',
    patch: 'replacingItem: {b: 3}',
    result: 'replacingItem: {b: 3}',
  },
  {
    name: 'takes a value of another kind as is',
    original: 'simpleMap: {a: 1}',
    patch: 'simpleMap: [1]',
    result: 'simpleMap: [1]',
  },
  {
    name: 'drops nulls and directives from a value added where nothing was',
    original: '{}',
    patch: 'simpleMap: {a: 1, b: null, c: {d: null, $patch: delete}, e: {$patch: replace, f: 1}}',
    result: 'simpleMap: {a: 1, e: {f: 1}}',
  },
  // Lists of primitives.
  {
    name: 'replaces a list of primitives without the merge strategy',
    original: 'nonMergingIntList: [1, 2]',
    patch: 'nonMergingIntList: [2, 3]',
    result: 'nonMergingIntList: [2, 3]',
  },
  {
    name: 'merges a list of primitives as a union (finalizers)',
    original: 'mergingIntList: [1, 2]',
    patch: 'mergingIntList: [2, 3]',
    result: 'mergingIntList: [1, 2, 3]',
  },
  {
    name: 'keeps the order of the patch for the items it names',
    original: 'mergingIntList: [1, 2, 3]',
    patch: 'mergingIntList: [3, 1]',
    result: 'mergingIntList: [2, 3, 1]',
  },
  {
    name: 'puts a new primitive before the server items it cannot place',
    original: 'mergingIntList: [1, 2]',
    patch: 'mergingIntList: [3]',
    result: 'mergingIntList: [3, 1, 2]',
  },
  {
    name: 'deletes every copy of a value with $deleteFromPrimitiveList',
    original: 'mergingIntList: [1, 2, 3, 3, 4]',
    patch: '$deleteFromPrimitiveList/mergingIntList: [3]',
    result: 'mergingIntList: [1, 2, 4]',
  },
  {
    name: 'ignores $deleteFromPrimitiveList on a list that is absent',
    original: 'name: 1',
    patch: '$deleteFromPrimitiveList/mergingIntList: [3]',
    result: 'name: 1',
  },
  // Lists of objects.
  {
    name: 'replaces a list of objects without the merge strategy',
    original: 'nonMergingList: [{name: 1}, {name: 2, value: 2}]',
    patch: 'nonMergingList: [{name: 1, value: 1}]',
    result: 'nonMergingList: [{name: 1, value: 1}]',
  },
  {
    name: 'merges list items by merge key',
    original: 'mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]',
    patch: 'mergingList: [{name: 1, value: 1}, {name: 2, other: null}]',
    result: 'mergingList: [{name: 1, other: a, value: 1}, {name: 2, value: 2}]',
  },
  {
    name: 'keeps the order of the patch and puts unnamed server items first',
    original: 'mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]',
    patch: 'mergingList: [{name: 3, value: c}, {name: 1, value: a}]',
    result: 'mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]',
  },
  {
    name: 'deletes a list item with $patch: delete',
    original: 'mergingList: [{name: 1}, {name: 2, other: b}]',
    patch: 'mergingList: [{name: 1, $patch: delete}]',
    result: 'mergingList: [{name: 2, other: b}]',
  },
  {
    name: 'deletes every duplicate of an item with $patch: delete',
    original: 'mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]',
    patch: 'mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]',
    result: 'mergingList: [{name: 2, value: a}]',
  },
  {
    name: 'merges into the first of duplicate items',
    original: 'mergingList: [{name: 1, value: a}, {name: 1, value: b}]',
    patch: 'mergingList: [{name: 1, other: x}]',
    result: 'mergingList: [{name: 1, value: a, other: x}, {name: 1, value: b}]',
  },
  {
    name: 'ignores $patch: delete for an item that is absent',
    original: 'mergingList: [{name: 2, other: b}]',
    patch: 'mergingList: [{name: 1, $patch: delete}]',
    result: 'mergingList: [{name: 2, other: b}]',
  },
  {
    name: 'replaces a merging list with a $patch: replace item',
    original: 'mergingList: [{name: 1, value: a}, {name: 2}]',
    patch: 'mergingList: [{name: 3}, {$patch: replace}]',
    result: 'mergingList: [{name: 3}]',
  },
  {
    name: 'empties a merging list with a lone $patch: replace item',
    original: 'mergingList: [{name: 1}, {name: 2}]',
    patch: 'mergingList: [{$patch: replace}]',
    result: 'mergingList: []',
  },
  {
    name: 'merges lists nested in merged items',
    original: 'mergingList: [{name: 1, mergingList: [{name: 1}, {name: 2, value: 2}]}, {name: 2}]',
    patch: 'mergingList: [{name: 1, mergingList: [{name: 1, value: 1}]}]',
    result: 'mergingList: [{name: 1, mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]}, {name: 2}]',
  },
  {
    name: 'replaces a non-merging list nested in a merged item',
    original: 'mergingList: [{name: 1, other: a, nonMergingList: [{name: 1}, {name: 2}]}]',
    patch: 'mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]',
    result: 'mergingList: [{name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}]',
  },
  {
    name: 'cleans the directives of a list added where nothing was',
    original: '{}',
    patch: 'mergingList: [{name: 1, $patch: delete}, {name: 2, simpleMap: {a: null, b: 1}}]',
    result: 'mergingList: [{name: 2, simpleMap: {b: 1}}]',
  },
  {
    name: 'merges empty merging lists',
    original: 'mergingList: []',
    patch: 'mergingList: []',
    result: 'mergingList: []',
  },
  // $setElementOrder.
  {
    name: 'adds items in the order of $setElementOrder',
    original: 'mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]',
    patch: `
      $setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}]
      mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]`,
    result:
      'mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]',
  },
  {
    name: 'reorders a list with $setElementOrder alone',
    original:
      'mergingList: [{name: 1, other: a}, {name: 3, value: 3}, {name: 4, value: 4}, {name: 2, value: 2}]',
    patch: '$setElementOrder/mergingList: [{name: 4}, {name: 2}, {name: 3}, {name: 1}]',
    result:
      'mergingList: [{name: 4, value: 4}, {name: 2, value: 2}, {name: 3, value: 3}, {name: 1, other: a}]',
  },
  {
    name: 'keeps server-only items in their server position under $setElementOrder',
    original:
      'mergingList: [{name: 1, other: a}, {name: 2, value: 2}, {name: 7}, {name: 9}, {name: 8}, {name: 3}, {name: 4}]',
    patch: '$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]',
    result:
      'mergingList: [{name: 2, value: 2}, {name: 1, other: a}, {name: 7}, {name: 9}, {name: 8}, {name: 4}, {name: 3}]',
  },
  {
    name: 'adds and deletes items under $setElementOrder as kubectl apply sends them',
    original: 'mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]',
    patch: `
      $setElementOrder/mergingList: [{name: 2}, {name: 3}]
      mergingList: [{name: 3}, {name: 1, $patch: delete}]`,
    result: 'mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]',
  },
  {
    name: 'orders a server-only item by the merged list when items are added and deleted',
    original: 'mergingList: [{name: 1, other: a}, {name: 4, other: c}]',
    patch: `
      $setElementOrder/mergingList: [{name: 2}, {name: 3}]
      mergingList: [{name: 2}, {name: 3}, {name: 1, $patch: delete}]`,
    result: 'mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]',
  },
  {
    name: 'ignores $setElementOrder entries missing from the list',
    original: 'mergingList: [{name: 1}, {name: 3}]',
    patch: `
      $setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}]
      mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]`,
    result: 'mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]',
  },
  {
    name: 'orders a list added where nothing was by $setElementOrder',
    original: '{}',
    patch: `
      $setElementOrder/mergingList: [{name: b}, {name: a}]
      mergingList: [{name: b}, {name: a}]`,
    result: 'mergingList: [{name: b}, {name: a}]',
  },
  {
    name: 'sorts duplicates together under $setElementOrder',
    original:
      'mergingList: [{name: 1}, {name: 2, value: dup1}, {name: 3}, {name: 2, value: dup2}, {name: 4}]',
    patch: '$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}, {name: 2}]',
    result: 'mergingList: [{name: 2, value: dup1}, {name: 2, value: dup2}, {name: 1}, {name: 4}, {name: 3}]',
  },
  {
    name: 'merges a list of primitives under $setElementOrder',
    original: 'mergingIntList: [1, 2, 4]',
    patch: `
      $setElementOrder/mergingIntList: [1, 2, 3]
      mergingIntList: [3]`,
    result: 'mergingIntList: [1, 2, 3, 4]',
  },
  {
    name: 'places a new primitive first when $setElementOrder says so',
    original: 'mergingIntList: [1, 4, 2]',
    patch: `
      $setElementOrder/mergingIntList: [3, 1, 2]
      mergingIntList: [3]`,
    result: 'mergingIntList: [3, 1, 4, 2]',
  },
  {
    name: 'adds, deletes and reorders primitives in one patch (finalizers from kubectl apply)',
    original: 'mergingIntList: [1, 2, 3, 4]',
    patch: `
      $setElementOrder/mergingIntList: [1, 3, 5]
      $deleteFromPrimitiveList/mergingIntList: [2]
      mergingIntList: [5]`,
    result: 'mergingIntList: [1, 3, 5, 4]',
  },
  {
    name: 'reorders two lists in one patch',
    original: 'mergingList: [{name: a}, {name: b}]\nmergingIntList: [1, 2]',
    patch: `
      $setElementOrder/mergingList: [{name: b}]
      $setElementOrder/mergingIntList: [2, 1]
      mergingList: [{$patch: delete, name: a}]`,
    result: 'mergingList: [{name: b}]\nmergingIntList: [2, 1]',
  },
  // $retainKeys.
  {
    name: 'clears keys missing from $retainKeys (a discriminated union)',
    original: 'retainKeysMap: {name: type1, value: foo}',
    patch: 'retainKeysMap: {$retainKeys: [name, other], name: type2, other: bar}',
    result: 'retainKeysMap: {name: type2, other: bar}',
  },
  {
    name: 'keeps and merges listed keys under $retainKeys',
    original: 'retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key3: c}}',
    patch: 'retainKeysMap: {$retainKeys: [name, simpleMap, value], simpleMap: {key2: b}}',
    result: 'retainKeysMap: {name: foo, value: bar, simpleMap: {key1: a, key3: c, key2: b}}',
  },
  {
    name: 'allows null for keys missing from $retainKeys',
    original: 'retainKeysMap: {name: foo, value: bar, other: a}',
    patch: 'retainKeysMap: {$retainKeys: [name], value: null}',
    result: 'retainKeysMap: {name: foo}',
  },
  {
    name: 'merges normally without a $retainKeys directive',
    original: 'retainKeysMap: {name: foo, value: a}',
    patch: 'retainKeysMap: {value: b}',
    result: 'retainKeysMap: {name: foo, value: b}',
  },
  {
    name: 'applies $retainKeys inside items of a merging list (volumes)',
    original: 'retainKeysMergingList: [{name: bar}, {name: foo, value: a, other: x}]',
    patch: `
      $setElementOrder/retainKeysMergingList: [{name: bar}, {name: foo}]
      retainKeysMergingList: [{$retainKeys: [name, value], name: foo, value: new}]`,
    result: 'retainKeysMergingList: [{name: bar}, {name: foo, value: new}]',
  },
  {
    name: 'combines $retainKeys with $setElementOrder and $deleteFromPrimitiveList',
    original: 'retainKeysMap: {name: foo, other: x, mergingIntList: [1, 2, 3, 4]}',
    patch: `
      retainKeysMap:
        $retainKeys: [mergingIntList, name]
        $setElementOrder/mergingIntList: [1, 3]
        $deleteFromPrimitiveList/mergingIntList: [2]`,
    result: 'retainKeysMap: {name: foo, mergingIntList: [1, 3, 4]}',
  },
];

describe('applyStrategicMergePatch', () => {
  for (const { name, original, patch, result } of cases) {
    it(name, () => {
      const output = applyStrategicMergePatch(frozen(parse(original)), frozen(parse(patch)), meta);
      // JSON round trip: key order of objects is not significant, list order is.
      assert.deepEqual(output, parse(result));
      assertUnshared(output);
    });
  }

  it('patches an absent original as an empty object', () => {
    assert.deepEqual(applyStrategicMergePatch(undefined, { name: 1, other: null }, meta), { name: 1 });
    assert.deepEqual(applyStrategicMergePatch(null, { name: 1 }, meta), { name: 1 });
  });

  it('treats a __proto__ key as ordinary data', () => {
    const result = applyStrategicMergePatch({}, JSON.parse('{"simpleMap": {"__proto__": {"x": 1}}}'), meta);
    assert.equal(({} as Record<string, unknown>).x, undefined);
    assert.deepEqual(Object.keys((result as { simpleMap: object }).simpleMap), ['__proto__']);
  });
});
