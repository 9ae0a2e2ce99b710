import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { type CronPolicy, cronPolicy, type MailboxObject } from '../../api/index.ts';
import type { ActualUnit, UnitStatus } from '../runtime/index.ts';
import { CronRuns } from './cron-runs.ts';
import { desiredStateOf } from './desired.ts';

/**
 * CronRuns' decisions on an injected wall clock, against the runtime's
 * answers as data (which runs exist and how they ended): the CronJob rules
 * for missed times, Forbid and Replace, history limits, a run lost or never
 * started, a clock going back, and the state surviving a restart.
 */

const log = pino({ level: 'silent' });
const source = { namespace: 'ns', workload: 'w', placement: 'p' };

function cronUnit(cron: CronPolicy) {
  const entry: MailboxObject = {
    source,
    hash: 'sha256:job',
    cron,
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'job', namespace: 'ns' },
      spec: { containers: [{ name: 'c', command: ['true'] }] },
    } as MailboxObject['object'],
  };
  return desiredStateOf([entry]).units[0]!;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outpost-cron-runs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A CronRuns on a clock the test sets, and the runtime's units as the test says. */
async function harness(name: string, start: string) {
  let now = new Date(start);
  const file = join(dir, `${name}.json`);
  const open = () => CronRuns.open({ file, log, now: () => now });
  const runs = await open();
  const actual = new Map<string, ActualUnit>();
  const unitStatus = (id: string, status: UnitStatus) =>
    actual.set(id, {
      id,
      source,
      ref: { apiVersion: 'v1', kind: 'Pod', name: 'job' },
      hash: '',
      objectHash: '',
      status,
    });
  return {
    runs,
    open,
    actual,
    at: (iso: string) => {
      now = new Date(iso);
    },
    /** One pass: plans, applies what it says (as running), saves. */
    pass: async (cronRuns: CronRuns, cron: CronPolicy) => {
      const unit = cronUnit(cron);
      cronRuns.beginPass();
      cronRuns.register(unit);
      const plan = cronRuns.plan(unit, cron, actual);
      for (const id of [...actual.keys()]) if (!plan.keep.includes(id)) actual.delete(id);
      for (const run of plan.start) {
        cronRuns.applied(run.id);
        unitStatus(run.id, { phase: 'Running', ready: true });
      }
      await cronRuns.save();
      return { plan, status: cronRuns.plan(unit, cron, actual).status };
    },
    finish: (id: string, exitCode: number) =>
      unitStatus(id, { phase: exitCode === 0 ? 'Succeeded' : 'Failed', exitCode, ready: false }),
  };
}

describe('cron runs on the device', () => {
  it('starts the due run once; a long downtime gives one run for the most recent time', async () => {
    const h = await harness('downtime', '2026-03-01T10:00:30Z');
    const cron = cronPolicy({ schedule: '* * * * *' });
    assert.equal((await h.pass(h.runs, cron)).plan.start.length, 0, 'nothing due when first seen');
    h.at('2026-03-01T10:01:00.005Z');
    const first = await h.pass(h.runs, cron);
    assert.equal(first.plan.start.length, 1);
    assert.equal(first.status.cron?.lastScheduleTime, '2026-03-01T10:01:00.000Z');
    assert.equal(first.status.cron?.nextScheduleTime, '2026-03-01T10:02:00.000Z');
    assert.equal((await h.pass(h.runs, cron)).plan.start.length, 0, 'not twice');
    h.finish(first.plan.start[0]!.id, 0);
    // Off for three hours (180 missed times): one run, for the most recent.
    h.at('2026-03-01T13:01:30Z');
    const late = await h.pass(h.runs, cron);
    assert.equal(late.plan.start.length, 1);
    assert.equal(late.status.cron?.lastScheduleTime, '2026-03-01T13:01:00.000Z');
    assert.ok(late.status.cron?.lastSuccessfulTime);
    assert.deepEqual(
      late.status.cron?.runs.map((r) => [r.run, r.phase]),
      [
        [1, 'Succeeded'],
        [2, 'Running'],
      ],
    );
  });

  it('skips times past startingDeadlineSeconds', async () => {
    const h = await harness('deadline', '2026-03-01T10:00:30Z');
    const cron = cronPolicy({ schedule: '* * * * *', startingDeadlineSeconds: 20 });
    await h.pass(h.runs, cron);
    h.at('2026-03-01T10:05:25Z');
    assert.equal((await h.pass(h.runs, cron)).plan.start.length, 0);
    h.at('2026-03-01T10:06:10Z');
    assert.equal((await h.pass(h.runs, cron)).plan.start.length, 1);
  });

  it('Forbid waits for the active run (then starts the due time if still within the deadline)', async () => {
    const h = await harness('forbid', '2026-03-01T10:00:30Z');
    const cron = cronPolicy({
      schedule: '* * * * *',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 30,
    });
    await h.pass(h.runs, cron);
    h.at('2026-03-01T10:01:00Z');
    const [first] = (await h.pass(h.runs, cron)).plan.start;
    h.at('2026-03-01T10:02:00Z');
    const blocked = await h.pass(h.runs, cron);
    assert.equal(blocked.plan.start.length, 0);
    assert.equal(blocked.status.cron?.lastScheduleTime, '2026-03-01T10:01:00.000Z');
    h.finish(first!.id, 0);
    h.at('2026-03-01T10:02:20Z');
    const after = await h.pass(h.runs, cron);
    assert.equal(after.plan.start.length, 1, 'the 10:02 time, 20 s late');
    assert.equal(after.status.cron?.lastScheduleTime, '2026-03-01T10:02:00.000Z');
  });

  it('Replace drops the active run; history keeps the newest finished runs per phase', async () => {
    const h = await harness('replace', '2026-03-01T10:00:30Z');
    const cron = cronPolicy({ schedule: '* * * * *', concurrencyPolicy: 'Replace' });
    await h.pass(h.runs, cron);
    h.at('2026-03-01T10:01:00Z');
    const [first] = (await h.pass(h.runs, cron)).plan.start;
    h.at('2026-03-01T10:02:00Z');
    const replaced = await h.pass(h.runs, cron);
    assert.ok(!replaced.plan.keep.includes(first!.id), 'the active run is removed');
    assert.deepEqual(
      replaced.status.cron?.runs.map((r) => r.run),
      [2],
    );
    const limits = cronPolicy({
      schedule: '* * * * *',
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 2,
    });
    const k = await harness('history', '2026-03-01T10:00:30Z');
    await k.pass(k.runs, limits);
    for (const [minute, code] of [
      [1, 0],
      [2, 1],
      [3, 0],
      [4, 1],
      [5, 1],
    ] as const) {
      k.at(`2026-03-01T10:0${minute}:00Z`);
      const [run] = (await k.pass(k.runs, limits)).plan.start;
      k.finish(run!.id, code);
    }
    k.at('2026-03-01T10:05:30Z');
    const kept = await k.pass(k.runs, limits);
    assert.deepEqual(
      kept.status.cron?.runs.map((r) => [r.run, r.phase, r.exitCode]),
      [
        [3, 'Succeeded', 0],
        [4, 'Failed', 1],
        [5, 'Failed', 1],
      ],
    );
    assert.equal(kept.plan.keep.length, 3);
  });

  it('a run lost or never started ends Failed; the state survives a restart; a clock going back goes on', async () => {
    const h = await harness('lost', '2026-03-01T10:00:30Z');
    const cron = cronPolicy({ schedule: '* * * * *' });
    await h.pass(h.runs, cron);
    h.at('2026-03-01T10:01:00Z');
    const [first] = (await h.pass(h.runs, cron)).plan.start;
    h.actual.delete(first!.id);
    h.at('2026-03-01T10:01:10Z');
    const lost = await h.pass(h.runs, cron);
    assert.equal(lost.status.cron?.runs[0]?.reason, 'Lost');
    // A new agent on the same file: the run counter and times go on.
    const again = await h.open();
    h.at('2026-03-01T10:02:00Z');
    const unit = cronUnit(cron);
    again.register(unit);
    const plan = again.plan(unit, cron, h.actual);
    assert.equal(plan.start.length, 1);
    assert.match(plan.start[0]!.id, /-run-2-/);
    again.startFailed(plan.start[0]!.id, new Error('disk full'));
    const failed = again.plan(unit, cron, h.actual);
    assert.equal(failed.start.length, 0);
    assert.equal(failed.status.cron?.runs.at(-1)?.reason, 'ApplyFailed');
    // The clock goes an hour back: the next minute on the new clock runs, not an hour later.
    h.at('2026-03-01T09:02:30Z');
    again.plan(unit, cron, h.actual);
    h.at('2026-03-01T09:03:00Z');
    const back = again.plan(unit, cron, h.actual);
    assert.equal(back.start.length, 1);
    assert.equal(back.status.cron?.lastScheduleTime, '2026-03-01T09:03:00.000Z');
  });
});
