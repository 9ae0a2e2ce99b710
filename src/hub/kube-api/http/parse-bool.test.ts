import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queryBool } from './parse-bool.ts';

describe('queryBool', () => {
  it('reads 0 and false in any letter case as false, as the apiserver does', () => {
    for (const value of ['0', 'false', 'False', 'FALSE', 'fAlSe'])
      assert.equal(queryBool(value), false, value);
  });

  it('reads an absent parameter as false', () => {
    assert.equal(queryBool(undefined), false);
  });

  it("reads every other value as true: Python's True, client-go's true, and a bare ?watch", () => {
    for (const value of ['true', 'True', 'TRUE', '1', 't', 'T', '', 'yes'])
      assert.equal(queryBool(value), true, value);
  });

  it('reads a repeated parameter by its first value', () => {
    assert.equal(queryBool(['True', 'false']), true);
    assert.equal(queryBool(['0', 'true']), false);
  });
});
