import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { certificateExpiry, selects } from './fleet.ts';
import type { Device } from './objects.ts';

describe("a Placement's deviceSelector in the browser", () => {
  const labels = { site: 'plant-a', line: 'odd' };
  it('matches as the hub does: matchLabels and every expression', () => {
    assert.equal(selects(undefined, labels), true);
    assert.equal(selects({ matchLabels: { site: 'plant-a' } }, labels), true);
    assert.equal(selects({ matchLabels: { site: 'plant-b' } }, labels), false);
    assert.equal(
      selects({ matchExpressions: [{ key: 'line', operator: 'In', values: ['odd', 'even'] }] }, labels),
      true,
    );
    assert.equal(
      selects({ matchExpressions: [{ key: 'line', operator: 'NotIn', values: ['odd'] }] }, labels),
      false,
    );
    assert.equal(
      selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['x'] }] }, labels),
      true,
    );
    assert.equal(selects({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels), false);
    assert.equal(selects({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels), true);
    assert.equal(
      selects(
        { matchLabels: { site: 'plant-a' }, matchExpressions: [{ key: 'site', operator: 'DoesNotExist' }] },
        labels,
      ),
      false,
    );
  });
});

describe("a device's certificate expiry as a person reads it", () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  const device = (notAfter?: string): Device => ({
    metadata: { name: 'd' },
    ...(notAfter ? { status: { certificate: { notAfter } } } : {}),
  });
  it('says when, and marks under a week and expired ones', () => {
    assert.deepEqual(certificateExpiry(device(), now), { text: 'unknown', soon: false });
    assert.deepEqual(certificateExpiry(device('2027-01-06T12:00:00Z'), now), {
      text: 'in 30 d',
      soon: false,
    });
    assert.deepEqual(certificateExpiry(device('2026-12-07T15:00:00Z'), now), { text: 'in 3 h', soon: true });
    assert.deepEqual(certificateExpiry(device('2026-12-07T11:00:00Z'), now), {
      text: 'expired 60 min ago',
      soon: true,
    });
  });
});
