import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { frozen, mergeItemMeta as meta } from './patch.fixture.ts';
import { InvalidPatchError, MalformedPatchError, type PatchError } from './patch-error.ts';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';

describe('applyStrategicMergePatch errors', () => {
  const failures: {
    name: string;
    original: string;
    patch: string;
    error: typeof PatchError;
    message: RegExp;
  }[] = [
    {
      name: 'a patch that is not an object',
      original: '{}',
      patch: '[1]',
      error: MalformedPatchError,
      message: /must be a JSON object/,
    },
    {
      name: 'an unknown $patch value in a map',
      original: '{}',
      patch: '$patch: remove',
      error: MalformedPatchError,
      message: /unknown patch type: "remove"/,
    },
    {
      name: 'an unknown $patch value in a list item',
      original: 'mergingList: [{name: 1}]',
      patch: 'mergingList: [{name: 1, $patch: nope}]',
      error: MalformedPatchError,
      message: /mergingList: unknown patch type: "nope" in list item/,
    },
    {
      name: 'an unknown directive',
      original: '{}',
      patch: '$foo: 1',
      error: MalformedPatchError,
      message: /unknown strategic merge patch directive "\$foo"/,
    },
    {
      name: '$setElementOrder without a field',
      original: 'mergingList: []',
      patch: '$setElementOrder: []',
      error: MalformedPatchError,
      message: /invalid patch format of setElementOrder list/,
    },
    {
      name: '$setElementOrder that is not a list',
      original: '{}',
      patch: '$setElementOrder/mergingList: {name: 1}',
      error: MalformedPatchError,
      message: /must be a list/,
    },
    {
      name: '$setElementOrder out of order with the patch list',
      original: 'mergingList: [{name: 1}, {name: 3}, {name: 2}]',
      patch: `
        $setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}]
        mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]`,
      error: MalformedPatchError,
      message: /doesn't match \$setElementOrder list/,
    },
    {
      name: '$deleteFromPrimitiveList without a field',
      original: '{}',
      patch: '$deleteFromPrimitiveList: [1]',
      error: MalformedPatchError,
      message: /invalid patch format of primitive list/,
    },
    {
      name: '$deleteFromPrimitiveList that is not a list',
      original: 'mergingIntList: [1]',
      patch: '$deleteFromPrimitiveList/mergingIntList: 1',
      error: MalformedPatchError,
      message: /must be a list/,
    },
    {
      name: '$deleteFromPrimitiveList on a list that does not merge',
      original: 'nonMergingIntList: [1, 2]',
      patch: '$deleteFromPrimitiveList/nonMergingIntList: [1]',
      error: MalformedPatchError,
      message: /applies only to lists that merge/,
    },
    {
      name: '$retainKeys that is not a list',
      original: 'retainKeysMap: {}',
      patch: 'retainKeysMap: {$retainKeys: name}',
      error: MalformedPatchError,
      message: /invalid patch format of retainKeys/,
    },
    {
      name: 'a patched key missing from $retainKeys',
      original: 'retainKeysMap: {name: a}',
      patch: 'retainKeysMap: {$retainKeys: [name], value: b}',
      error: MalformedPatchError,
      message: /"value" is patched but not in \$retainKeys/,
    },
    {
      name: 'a merging list item without its merge key',
      original: 'mergingList: [{name: 1, value: a}]',
      patch: 'mergingList: [{value: b}]',
      error: InvalidPatchError,
      message: /does not contain declared merge key: name/,
    },
    {
      name: 'a $patch: delete item without its merge key',
      original: 'mergingList: [{name: 1}]',
      patch: 'mergingList: [{$patch: delete}]',
      error: InvalidPatchError,
      message: /does not contain declared merge key: name/,
    },
    {
      name: 'list elements of mixed kinds',
      original: 'mergingIntList: [1, 2]',
      patch: 'mergingIntList: [{a: 1}]',
      error: InvalidPatchError,
      message: /list element types are not identical/,
    },
    {
      name: 'lists of lists',
      original: 'mergingIntList: [[1]]',
      patch: 'mergingIntList: [[2]]',
      error: InvalidPatchError,
      message: /lists of lists/,
    },
    {
      name: 'a target that is not an object',
      original: '[1]',
      patch: '{}',
      error: InvalidPatchError,
      message: /object to patch/,
    },
  ];
  for (const { name, original, patch, error, message } of failures) {
    it(`rejects ${name} with ${error.name}`, () => {
      assert.throws(
        () => applyStrategicMergePatch(frozen(parse(original)), frozen(parse(patch)), meta),
        (thrown: unknown) => {
          assert.ok(thrown instanceof error, `got ${String(thrown)}`);
          assert.match((thrown as Error).message, message);
          return true;
        },
      );
    });
  }
});
