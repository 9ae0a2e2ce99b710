import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { updateWindowState, validateUpdateWindow } from './update-window.ts';

describe('update windows', () => {
  const nightly = { schedule: '0 2 * * *', duration: '90m', timeZone: 'Europe/Berlin' };

  it('is open from an opening for its duration, in its time zone', () => {
    // 02:00 in Berlin (winter) is 01:00 UTC.
    const open = updateWindowState(nightly, new Date('2026-12-08T02:20:00Z'));
    assert.equal(open.open, true);
    assert.equal(open.openedAt?.toISOString(), '2026-12-08T01:00:00.000Z');
    const closed = updateWindowState(nightly, new Date('2026-12-08T02:30:00Z'));
    assert.equal(closed.open, false);
    assert.equal(closed.opensAt?.toISOString(), '2026-12-09T01:00:00.000Z');
    assert.equal(closed.openedAt?.toISOString(), '2026-12-08T01:00:00.000Z');
  });

  it('refuses a window that never opens, a bad zone and a duration of nothing, naming the fields', () => {
    const causes = validateUpdateWindow(
      { schedule: '0 0 30 2 *', duration: '0', timeZone: 'Mars/Olympus' },
      'spec.rollout.updateWindow',
    );
    assert.deepEqual(
      causes.map((c) => c.field),
      [
        'spec.rollout.updateWindow.timeZone',
        'spec.rollout.updateWindow.schedule',
        'spec.rollout.updateWindow.duration',
      ],
    );
    assert.match(causes[1]!.message, /never matches a date|30/);
    assert.deepEqual(validateUpdateWindow(nightly, 'spec.updateWindow'), []);
  });
});
