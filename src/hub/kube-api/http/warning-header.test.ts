import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { warningHeaderValues } from './warning-header.ts';

describe('Warning header values', () => {
  it('sends each warning as a 299 value', () => {
    assert.deepEqual(warningHeaderValues(['unknown field "spec.x"']), ['299 - "unknown field \\"spec.x\\""']);
  });

  it('truncates a long warning and counts those past the total cap', () => {
    const warnings = Array.from({ length: 30_000 }, (_, i) => `unknown field "status.k${i}"`);
    warnings.unshift(`unknown field "${'k'.repeat(64 * 1024)}"`);
    const values = warningHeaderValues(warnings);
    assert.ok(values[0]!.length < 1100, `first value ${values[0]!.length} characters`);
    const total = values.reduce((sum, value) => sum + value.length, 0);
    assert.ok(total < 9 * 1024, `${total} characters in all`);
    assert.match(values.at(-1)!, /^299 - "\d+ more warnings not shown"$/);
    const shown = values.length - 1;
    assert.equal(values.at(-1), `299 - "${warnings.length - shown} more warnings not shown"`);
  });
});
