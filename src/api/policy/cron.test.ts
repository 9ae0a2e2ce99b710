import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CronSchedule, cronPolicy, dueSchedule, MAX_MISSED_SCHEDULES, validateCron } from './cron.ts';

const at = (iso: string) => new Date(iso);

describe('cron schedules (croner)', () => {
  test('reads 5 fields, 6 with seconds first, @hourly, and a time zone', () => {
    assert.equal(
      new CronSchedule('*/5 * * * *').next(at('2026-03-01T10:02:00Z'))?.toISOString(),
      '2026-03-01T10:05:00.000Z',
    );
    assert.equal(
      new CronSchedule('*/10 * * * * *').next(at('2026-03-01T10:02:03Z'))?.toISOString(),
      '2026-03-01T10:02:10.000Z',
    );
    assert.equal(
      new CronSchedule('@hourly').previous(at('2026-03-01T10:02:03Z'))?.toISOString(),
      '2026-03-01T10:00:00.000Z',
    );
    // 09:00 in Tokyo is 00:00 UTC.
    assert.equal(
      new CronSchedule('0 9 * * *', 'Asia/Tokyo').next(at('2026-03-01T10:00:00Z'))?.toISOString(),
      '2026-03-02T00:00:00.000Z',
    );
    // A scheduled time is its own previous.
    assert.equal(
      new CronSchedule('@hourly').previous(at('2026-03-01T10:00:00Z'))?.toISOString(),
      '2026-03-01T10:00:00.000Z',
    );
  });

  test('defaults are applied in one place', () => {
    assert.deepEqual(cronPolicy({ schedule: '@daily' }), {
      schedule: '@daily',
      concurrencyPolicy: 'Allow',
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 1,
      suspend: false,
    });
  });

  test('refuses what croner cannot read, unknown zones, and schedules that never fire', () => {
    assert.deepEqual(validateCron({ schedule: '@hourly', timeZone: 'Europe/Berlin' }, 'spec.cron'), []);
    for (const schedule of ['61 * * * *', '@reboot', '* * * * * * *', 'often', '0 0 30 2 *'])
      assert.deepEqual(
        validateCron({ schedule }, 'spec.cron').map((c) => c.field),
        ['spec.cron.schedule'],
        schedule,
      );
    assert.deepEqual(
      validateCron({ schedule: '@daily', timeZone: 'Nowhere/Land' }, 'spec.cron').map((c) => c.field),
      ['spec.cron.timeZone'],
    );
  });
});

describe("missed schedules, by CronJob's rule", () => {
  const everyMinute = new CronSchedule('* * * * *');

  test('only the most recent of several missed times is due', () => {
    const due = dueSchedule(everyMinute, at('2026-03-01T10:00:00Z'), at('2026-03-01T10:03:30Z'));
    assert.equal(due.mostRecent?.toISOString(), '2026-03-01T10:03:00.000Z');
    assert.equal(due.missed, 3);
    assert.equal(due.next?.toISOString(), '2026-03-01T10:04:00.000Z');
  });

  test('the time already run is not due again', () => {
    const due = dueSchedule(everyMinute, at('2026-03-01T10:03:00Z'), at('2026-03-01T10:03:30Z'));
    assert.equal(due.mostRecent, undefined);
    assert.equal(due.missed, 0);
  });

  test('more than 100 missed times: counted up to 101, still one run', () => {
    const due = dueSchedule(everyMinute, at('2026-03-01T00:00:00Z'), at('2026-03-02T00:00:30Z'));
    assert.equal(due.missed, MAX_MISSED_SCHEDULES + 1);
    assert.equal(due.mostRecent?.toISOString(), '2026-03-02T00:00:00.000Z');
  });

  test('past startingDeadlineSeconds nothing is due; within it the most recent is', () => {
    const since = at('2026-03-01T10:00:00Z');
    assert.equal(dueSchedule(everyMinute, since, at('2026-03-01T10:03:30Z'), 20).mostRecent, undefined);
    assert.equal(
      dueSchedule(everyMinute, since, at('2026-03-01T10:03:10Z'), 20).mostRecent?.toISOString(),
      '2026-03-01T10:03:00.000Z',
    );
  });
});
