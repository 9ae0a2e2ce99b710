import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nestsDeeperThan } from './index.ts';

const nested = (depth: number) => JSON.parse(`${'{"a":'.repeat(depth - 1)}[]${'}'.repeat(depth - 1)}`);

describe('nestsDeeperThan', () => {
  it('counts objects and arrays, not scalars', () => {
    assert.equal(nestsDeeperThan('text', 0), false);
    assert.equal(nestsDeeperThan({}, 0), true);
    assert.equal(nestsDeeperThan({ a: [1, { b: 'x' }] }, 3), false);
    assert.equal(nestsDeeperThan({ a: [1, { b: 'x' }] }, 2), true);
  });

  it('measures a million levels without overflowing the stack', () => {
    assert.equal(nestsDeeperThan(nested(1_000_000), 999_999), true);
    assert.equal(nestsDeeperThan(nested(1_000_000), 1_000_000), false);
  });

  it('finds the one deep branch among wide siblings', () => {
    const wide = { items: Array.from({ length: 10_000 }, (_, i) => ({ i })), deep: nested(20) };
    assert.equal(nestsDeeperThan(wide, 20), true);
    assert.equal(nestsDeeperThan(wide, 21), false);
  });
});
