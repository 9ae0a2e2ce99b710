import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applyMergePatch } from './merge-patch.ts';
import { assertUnshared, frozen } from './patch.fixture.ts';

// RFC 7386 Appendix A, every example.
const rfcExamples: [unknown, unknown, unknown][] = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [
    ['a', 'b'],
    ['c', 'd'],
    ['c', 'd'],
  ],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

describe('applyMergePatch', () => {
  for (const [target, patch, expected] of rfcExamples) {
    it(`applies the RFC 7386 example ${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      const result = applyMergePatch(frozen(target), frozen(patch));
      assert.deepEqual(result, expected);
      assertUnshared(result);
    });
  }

  it('merges labels and deletes a label with null, as kubectl label does', () => {
    const live = frozen({ metadata: { name: 'gw', labels: { site: 'a', tier: 'edge' } }, spec: { x: 1 } });
    const result = applyMergePatch(
      live,
      frozen({ metadata: { labels: { site: 'b', tier: null, new: 'y' } } }),
    );
    assert.deepEqual(result, { metadata: { name: 'gw', labels: { site: 'b', new: 'y' } }, spec: { x: 1 } });
  });

  it('replaces lists wholesale', () => {
    const result = applyMergePatch(frozen({ finalizers: ['a', 'b'] }), frozen({ finalizers: ['c'] }));
    assert.deepEqual(result, { finalizers: ['c'] });
  });

  it('treats a __proto__ key as ordinary data without touching prototypes', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const result = applyMergePatch({}, patch) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(result), Object.prototype);
    assert.deepEqual(Object.keys(result).sort(), ['__proto__', 'a']);
  });

  it('turns any object into any null-free object with the merge patch computed between them', () => {
    const json = fc.jsonValue().filter((value) => !JSON.stringify(value).includes('null'));
    const object = fc.dictionary(fc.string(), json, { noNullPrototype: true });
    fc.assert(
      fc.property(fc.jsonValue(), object, (target, next) => {
        assert.deepEqual(applyMergePatch(target, mergePatchBetween(target, next)), next);
      }),
    );
  });

  it('returns a null-free patch itself when applied to an empty object, and is idempotent', () => {
    const json = fc.jsonValue().filter((value) => !JSON.stringify(value).includes('null'));
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.dictionary(fc.string(), json, { noNullPrototype: true }),
        (target, patch) => {
          assert.deepEqual(applyMergePatch({}, patch), patch);
          const once = applyMergePatch(target, patch);
          assert.deepEqual(applyMergePatch(once, patch), once);
        },
      ),
    );
  });
});

/** The merge patch that turns `from` into `to`: nulls for removed keys, recursing into objects. */
function mergePatchBetween(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  // defineProperty: generated keys include __proto__, which plain assignment would not store.
  const put = (key: string, value: unknown) =>
    Object.defineProperty(patch, key, { value, enumerable: true, writable: true, configurable: true });
  for (const key of Object.keys(from)) if (!Object.hasOwn(to, key)) put(key, null);
  for (const key of Object.keys(to))
    put(key, Object.hasOwn(from, key) ? mergePatchBetween(from[key], to[key]) : to[key]);
  return patch;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
