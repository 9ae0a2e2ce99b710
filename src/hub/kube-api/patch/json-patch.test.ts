import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyJsonPatch, validateJsonPatch } from './json-patch.ts';
import { assertUnshared, frozen } from './patch.fixture.ts';
import { InvalidPatchError, MalformedPatchError, PatchError } from './patch-error.ts';

const configMap = () =>
  frozen({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cfg', labels: { app: 'web' }, finalizers: ['a', 'b'] },
    data: { 'a/b': 'slash', 't~x': 'tilde' },
  });

describe('applyJsonPatch', () => {
  const cases: [string, unknown[], (result: ReturnType<typeof configMap>) => unknown, unknown][] = [
    [
      'adds a label',
      [{ op: 'add', path: '/metadata/labels/tier', value: 'edge' }],
      (r) => r.metadata.labels,
      { app: 'web', tier: 'edge' },
    ],
    [
      'appends to a list with -',
      [{ op: 'add', path: '/metadata/finalizers/-', value: 'c' }],
      (r) => r.metadata.finalizers,
      ['a', 'b', 'c'],
    ],
    [
      'inserts into a list at an index',
      [{ op: 'add', path: '/metadata/finalizers/0', value: 'z' }],
      (r) => r.metadata.finalizers,
      ['z', 'a', 'b'],
    ],
    [
      'removes a list item',
      [{ op: 'remove', path: '/metadata/finalizers/0' }],
      (r) => r.metadata.finalizers,
      ['b'],
    ],
    [
      'replaces a value',
      [{ op: 'replace', path: '/metadata/labels/app', value: 'api' }],
      (r) => r.metadata.labels,
      { app: 'api' },
    ],
    [
      'unescapes ~1 and ~0 in pointers',
      [
        { op: 'remove', path: '/data/a~1b' },
        { op: 'remove', path: '/data/t~0x' },
      ],
      (r) => r.data,
      {},
    ],
    [
      'moves a value',
      [{ op: 'move', from: '/metadata/labels/app', path: '/metadata/labels/name' }],
      (r) => r.metadata.labels,
      { name: 'web' },
    ],
    [
      'copies a value',
      [{ op: 'copy', from: '/metadata/name', path: '/data/name' }],
      (r) => r.data,
      { 'a/b': 'slash', 't~x': 'tilde', name: 'cfg' },
    ],
    [
      'runs later operations after a passing test',
      [
        { op: 'test', path: '/metadata/labels', value: { app: 'web' } },
        { op: 'replace', path: '/metadata/name', value: 'renamed' },
      ],
      (r) => r.metadata.name,
      'renamed',
    ],
    [
      'replaces the whole document at the empty pointer',
      [{ op: 'replace', path: '', value: { a: 1 } }],
      (r) => r,
      { a: 1 },
    ],
    ['accepts an empty patch', [], (r) => r, configMap()],
  ];
  for (const [name, ops, pick, expected] of cases) {
    it(name, () => {
      const result = applyJsonPatch(configMap(), frozen(ops)) as ReturnType<typeof configMap>;
      assert.deepEqual(pick(result), expected);
      assertUnshared(result);
    });
  }

  it('does not let the result alias values taken from the patch', () => {
    const ops = frozen([{ op: 'add', path: '/data/nested', value: { deep: { x: 1 } } }]);
    assertUnshared(applyJsonPatch(configMap(), ops));
  });

  const failures: [string, unknown, typeof PatchError, RegExp][] = [
    ['a body that is not an array', { op: 'add' }, MalformedPatchError, /must be an array/],
    ['an operation that is not an object', ['add'], MalformedPatchError, /operation 0 must be an object/],
    ['an unknown op', [{ op: 'merge', path: '/a' }], InvalidPatchError, /operation 0: unknown op "merge"/],
    ['a missing op', [{ path: '/a' }], InvalidPatchError, /unknown op undefined/],
    [
      'a path without a leading slash',
      [{ op: 'remove', path: 'metadata' }],
      InvalidPatchError,
      /not a JSON pointer/,
    ],
    [
      'a bad ~ escape',
      [{ op: 'remove', path: '/data/t~2x' }],
      InvalidPatchError,
      /"~" not followed by 0 or 1/,
    ],
    ['a missing path', [{ op: 'remove' }], InvalidPatchError, /path must be a JSON pointer string/],
    ['a missing value', [{ op: 'add', path: '/a' }], InvalidPatchError, /missing value/],
    ['a move without from', [{ op: 'move', path: '/a' }], InvalidPatchError, /from must be a JSON pointer/],
    [
      'a move into its own child',
      [{ op: 'move', from: '/metadata', path: '/metadata/x' }],
      InvalidPatchError,
      /own child/,
    ],
    ['removing the whole document', [{ op: 'remove', path: '' }], InvalidPatchError, /whole document/],
    [
      'a failing test',
      [{ op: 'test', path: '/metadata/name', value: 'other' }],
      InvalidPatchError,
      /operation 0 \(test \/metadata\/name\): test failed/,
    ],
    [
      'removing a path that does not exist',
      [{ op: 'remove', path: '/spec' }],
      InvalidPatchError,
      /path does not exist/,
    ],
    [
      'replacing a path that does not exist',
      [{ op: 'replace', path: '/metadata/uid', value: 'u' }],
      InvalidPatchError,
      /path does not exist/,
    ],
    [
      'adding under a parent that does not exist',
      [{ op: 'add', path: '/spec/replicas', value: 1 }],
      InvalidPatchError,
      /parent of the path does not exist/,
    ],
    [
      'adding past the end of a list',
      [{ op: 'add', path: '/metadata/finalizers/5', value: 'x' }],
      InvalidPatchError,
      /past the end/,
    ],
    [
      'moving from a path that does not exist',
      [{ op: 'move', from: '/nope', path: '/x' }],
      InvalidPatchError,
      /from path does not exist/,
    ],
    [
      'touching __proto__',
      [{ op: 'add', path: '/__proto__/polluted', value: true }],
      InvalidPatchError,
      /banned/,
    ],
  ];
  for (const [name, ops, errorClass, message] of failures) {
    it(`rejects ${name} with ${errorClass.name}`, () => {
      assert.throws(
        () => applyJsonPatch(configMap(), frozen(ops)),
        (error: unknown) => {
          assert.ok(error instanceof errorClass, `got ${String(error)}`);
          assert.ok(error instanceof PatchError);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('applies nothing when a later operation fails', () => {
    const target = configMap();
    assert.throws(() =>
      applyJsonPatch(target, [
        { op: 'replace', path: '/metadata/name', value: 'x' },
        { op: 'test', path: '/metadata/name', value: 'nope' },
      ]),
    );
    assert.equal(target.metadata.name, 'cfg');
  });

  it('names the index of the failing operation', () => {
    assert.throws(
      () =>
        applyJsonPatch(configMap(), [
          { op: 'add', path: '/a', value: 1 },
          { op: 'remove', path: '/nope' },
        ]),
      /json patch operation 1 \(remove \/nope\)/,
    );
  });
});

describe('validateJsonPatch', () => {
  it('accepts a well-formed patch without a target', () => {
    validateJsonPatch([
      { op: 'add', path: '/spec/x', value: null },
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'test', path: '', value: {} },
    ]);
  });

  it('names the index and the problem of the first bad operation', () => {
    assert.throws(
      () =>
        validateJsonPatch([
          { op: 'add', path: '/a', value: 1 },
          { op: 'replace', path: '/b' },
        ]),
      (error: unknown) =>
        error instanceof InvalidPatchError &&
        /operation 1 \(replace \/b\): missing value/.test(error.message),
    );
  });

  it('checks structure only: a path that does not exist anywhere is fine', () => {
    validateJsonPatch([{ op: 'remove', path: '/does/not/exist' }]);
  });
});
