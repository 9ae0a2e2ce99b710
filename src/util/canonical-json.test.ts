import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, equalAsJson } from './index.ts';

describe('canonicalJson', () => {
  it('sorts keys at every level and keeps array order', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }, 1] }), '{"a":[{"c":3,"d":2},1],"b":1}');
  });

  it('leaves out keys whose value is undefined, as JSON.stringify does', () => {
    assert.equal(canonicalJson({ a: undefined, b: [undefined] }), '{"b":[null]}');
  });
});

describe('equalAsJson', () => {
  it('ignores the order of keys', () => {
    assert.ok(
      equalAsJson(
        { phase: 'Running', ref: { name: 'a', kind: 'Pod' } },
        { ref: { kind: 'Pod', name: 'a' }, phase: 'Running' },
      ),
    );
  });

  it('tells apart different values, and arrays in another order', () => {
    assert.ok(!equalAsJson({ restarts: 1 }, { restarts: 2 }));
    assert.ok(!equalAsJson([1, 2], [2, 1]));
  });

  it('counts a key whose value is undefined as absent (a JSON round trip drops it)', () => {
    assert.ok(equalAsJson({ reason: undefined, phase: 'Running' }, { phase: 'Running' }));
  });
});
