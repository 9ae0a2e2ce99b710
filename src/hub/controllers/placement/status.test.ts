// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Mailbox, ObjectStatus } from '../../../api/index.ts';
import { boundedMessage, rolloutConditions, withTransitionTimes } from './conditions.ts';
import { combineStates, type DeviceState, evaluateWorkload, summarize } from './status.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MIN = 60_000;

function mailbox(statuses: ObjectStatus[] = [], excluded = false): Mailbox {
  return {
    spec: {
      objects: [
        {
          source: { namespace: 'team', workload: 'web', placement: 'pl' },
          hash: 'h1',
          since: '2026-01-01T00:00:00Z',
          object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team' } },
        },
      ],
      ...(excluded
        ? {
            excluded: [
              {
                source: { namespace: 'team', workload: 'web', placement: 'pl' },
                ref: { apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg', namespace: 'team' },
                reason: 'MissingParameter' as const,
                message: '${device.labels.zone} is not set on this device',
              },
            ],
          }
        : {}),
    },
    status: { objects: statuses },
  };
}

const status = (
  phase: ObjectStatus['phase'],
  hash = 'h1',
  extra: Partial<ObjectStatus> = {},
): ObjectStatus => ({
  ref: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'team', name: 'web' },
  observedHash: hash,
  phase,
  ...extra,
});

const source = { namespace: 'team', workload: 'web' };
const at = (now: number, unreachable = false) => ({ now, progressDeadlineMs: 5 * MIN, unreachable });

describe('a device state for a workload', () => {
  it('is pending until the agent reports the current hash, with a recheck at the deadline', () => {
    const state = evaluateWorkload(mailbox(), source, at(T0 + MIN));
    assert.deepEqual(state, { applied: false, running: false, unreachable: false, recheckAt: T0 + 5 * MIN });
    const old = evaluateWorkload(mailbox([status('Running', 'h0')]), source, at(T0 + MIN));
    assert.equal(old.applied, false, 'a report of older content is not applied');
  });

  it('is applied, then running, when the agent reports the current hash Running', () => {
    assert.deepEqual(evaluateWorkload(mailbox([status('Pending')]), source, at(T0)).applied, true);
    assert.deepEqual(evaluateWorkload(mailbox([status('Running')]), source, at(T0)), {
      applied: true,
      running: true,
      unreachable: false,
    });
    assert.equal(
      evaluateWorkload(mailbox([status('Running', 'h1', { ready: false })]), source, at(T0)).running,
      false,
    );
  });

  it('fails with the object reason when the agent reports Failed', () => {
    const state = evaluateWorkload(
      mailbox([status('Failed', 'h1', { reason: 'ImagePullFailed', message: 'no such image' })]),
      source,
      at(T0),
    );
    assert.deepEqual(state.failure, {
      reason: 'ImagePullFailed',
      message: 'Deployment team/web failed: no such image',
    });
  });

  it('fails with ProgressDeadlineExceeded once the deadline passes without a report, never pending forever', () => {
    const state = evaluateWorkload(mailbox(), source, at(T0 + 5 * MIN));
    assert.equal(state.failure?.reason, 'ProgressDeadlineExceeded');
    assert.match(state.failure!.message, /Deployment team\/web not applied within 300 s/);
    const stuck = evaluateWorkload(mailbox([status('Pending')]), source, at(T0 + 6 * MIN));
    assert.equal(stuck.failure?.reason, 'ProgressDeadlineExceeded');
  });

  it('waits for an update window without failing, and has the whole deadline from its opening', () => {
    // Placed at midnight; the window opens at 03:00 for an hour.
    const windowed = mailbox([status('Pending', 'h1', { reason: 'WaitingForUpdateWindow' })]);
    windowed.spec!.objects![0]!.updateWindow = { schedule: '0 3 * * *', duration: '1h', timeZone: 'UTC' };
    const waiting = evaluateWorkload(windowed, source, at(T0 + 120 * MIN));
    assert.equal(waiting.failure, undefined);
    assert.equal(waiting.running, false);
    // Opened at 03:00, the agent applying (no report of the new hash yet): late only from 03:05.
    windowed.status!.objects = [];
    assert.equal(evaluateWorkload(windowed, source, at(T0 + 184 * MIN)).failure, undefined);
    assert.equal(
      evaluateWorkload(windowed, source, at(T0 + 185 * MIN)).failure?.reason,
      'ProgressDeadlineExceeded',
    );
  });

  it('fails with the exclusion reason when an object was left out', () => {
    const state = evaluateWorkload(mailbox([status('Running')], true), source, at(T0));
    assert.equal(state.running, false);
    assert.equal(state.failure?.reason, 'MissingParameter');
  });

  it('is unreachable, not failed, when the device stopped sending heartbeats', () => {
    const state = evaluateWorkload(mailbox(), source, at(T0 + 10 * MIN, true));
    assert.equal(state.unreachable, true);
    assert.equal(state.failure, undefined);
    assert.equal(state.running, false);
  });

  it('combines workloads: all applied/running, the first failure, the earliest recheck', () => {
    const ok: DeviceState = { applied: true, running: true, unreachable: false };
    const pending: DeviceState = { applied: false, running: false, unreachable: false, recheckAt: 5 };
    const failed: DeviceState = {
      applied: true,
      running: false,
      unreachable: false,
      failure: { reason: 'X', message: 'x' },
    };
    assert.deepEqual(combineStates([ok, pending, failed], false), {
      applied: false,
      running: false,
      unreachable: false,
      failure: { reason: 'X', message: 'x' },
      recheckAt: 5,
    });
    // A Placement that selects no Workload runs nothing on its devices: not "running".
    assert.deepEqual(combineStates([], false), { applied: false, running: false, unreachable: false });
  });

  for (const [phase, reason] of [
    ['Pending', 'CreateContainerConfigError'],
    ['Pending', 'ImageNotPresent'],
    ['Pending', 'ErrImagePull'],
    ['Pending', 'StartFailed'],
    ['Running', 'CrashLoopBackOff'],
    ['Pending', 'Init:CrashLoopBackOff'],
  ] as const) {
    it(`fails at once, before any deadline, when the agent reports ${phase} ${reason}`, () => {
      const state = evaluateWorkload(
        mailbox([status(phase, 'h1', { ready: false, reason, message: 'why it waits' })]),
        source,
        at(T0),
      );
      assert.equal(state.running, false);
      assert.equal(state.applied, true);
      assert.deepEqual(state.failure, { reason, message: 'Deployment team/web failed: why it waits' });
      assert.equal(state.recheckAt, undefined, 'no deadline to wait for');
    });
  }

  it('fails at once, not applied, when the agent could not apply the current content (ApplyFailed)', () => {
    const state = evaluateWorkload(
      mailbox([status('Pending', 'h1', { reason: 'ApplyFailed', message: 'disk full' })]),
      source,
      at(T0),
    );
    assert.equal(state.applied, false);
    assert.equal(state.failure?.reason, 'ApplyFailed');
    const old = evaluateWorkload(
      mailbox([status('Pending', 'h0', { reason: 'ApplyFailed', message: 'disk full' })]),
      source,
      at(T0),
    );
    assert.equal(old.failure, undefined, 'a failure about older content is not counted');
  });

  it('keeps a device progressing while it reports a reason that is only waiting (ContainerCreating)', () => {
    const state = evaluateWorkload(
      mailbox([status('Pending', 'h1', { ready: false, reason: 'ContainerCreating' })]),
      source,
      at(T0 + MIN),
    );
    assert.equal(state.failure, undefined);
    assert.equal(state.recheckAt, T0 + 5 * MIN);
  });
});

describe('summaries', () => {
  it('counts devices, groups failure reasons by count and lists at most 20 broken devices', () => {
    const states = new Map<string, DeviceState>();
    for (let i = 0; i < 3000; i++) {
      const reason = i % 3 === 0 ? 'ImagePullFailed' : i % 3 === 1 ? 'ProgressDeadlineExceeded' : 'Crash';
      states.set(`gw-${String(i).padStart(4, '0')}`, {
        applied: false,
        running: false,
        unreachable: false,
        failure: { reason: i < 2000 ? 'ImagePullFailed' : reason, message: 'm' },
      });
    }
    states.set('ok', { applied: true, running: true, unreachable: false });
    states.set('off', { applied: true, running: false, unreachable: true });
    const summary = summarize(states);
    assert.deepEqual(summary.devices, {
      matched: 3002,
      applied: 2,
      running: 1,
      failed: 3000,
      unreachable: 1,
    });
    assert.equal(summary.failureReasons[0]!.reason, 'ImagePullFailed');
    assert.equal(
      summary.failureReasons.reduce((n, r) => n + r.count, 0),
      3001,
    );
    assert.equal(summary.broken.length, 20);
    assert.equal(summary.broken[0]!.device, 'gw-0000');
  });

  it('sets Ready, Customized and Conflicted with bounded messages', () => {
    const conditions = rolloutConditions({
      devices: { matched: 3, applied: 3, running: 3, failed: 0, unreachable: 0 },
      failureReasons: [],
      problems: [],
      generation: 4,
    });
    assert.deepEqual(
      conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
      [
        ['Ready', 'True', 'AllRunning', 4],
        ['Customized', 'True', 'AllRendered', 4],
        ['Conflicted', 'False', 'NoConflicts', 4],
      ],
    );
    const problems = Array.from({ length: 40 }, (_, i) => ({
      device: `gw-${String(i).padStart(2, '0')}`,
      reason: 'MissingParameter',
      message: 'ConfigMap cfg: ${device.labels.zone} is not set on this device',
    }));
    const failing = rolloutConditions({
      devices: { matched: 40, applied: 0, running: 0, failed: 40, unreachable: 0 },
      failureReasons: [{ reason: 'MissingParameter', count: 40 }],
      problems,
      generation: 1,
    });
    assert.equal(failing[0]!.reason, 'Failed');
    assert.equal(failing[1]!.status, 'False');
    assert.equal(failing[1]!.reason, 'MissingParameter');
    assert.match(
      failing[1]!.message,
      /^40 objects left out on 40 devices: device gw-00: ConfigMap cfg: \$\{device\.labels\.zone\}/,
    );
    assert.match(failing[1]!.message, /and 35 more devices$/);
    assert.ok(failing[1]!.message.length < 600);
    assert.match(boundedMessage(problems.slice(0, 1), 'x'), /^1 x on 1 device: /);
  });

  it('says WorkloadNotFound with the missing names, and Ready False, for a Placement naming absent Workloads', () => {
    const devices = { matched: 1, applied: 0, running: 0, failed: 0, unreachable: 0 };
    const conditions = rolloutConditions({
      devices,
      failureReasons: [],
      problems: [],
      generation: 2,
      selection: { selected: [], missing: ['b', 'a'], unmatched: [] },
    });
    const byType = Object.fromEntries(conditions.map((c) => [c.type, c]));
    assert.deepEqual(
      [byType.WorkloadsFound?.status, byType.WorkloadsFound?.reason, byType.WorkloadsFound?.message],
      ['False', 'WorkloadNotFound', 'workloads not found: a, b'],
    );
    assert.deepEqual(
      [byType.Ready?.status, byType.Ready?.reason, byType.Ready?.message],
      ['False', 'WorkloadNotFound', 'workloads not found: a, b; 0/1 devices running'],
    );
    const unmatched = rolloutConditions({
      devices,
      failureReasons: [],
      problems: [],
      generation: 2,
      selection: { selected: [], missing: [], unmatched: ['web'] },
    });
    assert.equal(
      unmatched.find((c) => c.type === 'WorkloadsFound')?.message,
      'workloads not matching the label selector: web',
    );
    const none = rolloutConditions({
      devices,
      failureReasons: [],
      problems: [],
      generation: 2,
      selection: { selected: [], missing: [], unmatched: [] },
    });
    assert.deepEqual(
      none.filter((c) => c.type === 'WorkloadsFound' || c.type === 'Ready').map((c) => [c.status, c.reason]),
      [
        ['False', 'NoWorkloadsSelected'],
        ['False', 'NoWorkloadsSelected'],
      ],
    );
    const found = rolloutConditions({
      devices: { ...devices, applied: 1, running: 1 },
      failureReasons: [],
      problems: [],
      generation: 2,
      selection: { selected: ['web'], missing: [], unmatched: [] },
    });
    assert.deepEqual(
      found.map((c) => [c.type, c.status, c.reason]),
      [
        ['Ready', 'True', 'AllRunning'],
        ['Customized', 'True', 'AllRendered'],
        ['Conflicted', 'False', 'NoConflicts'],
        ['WorkloadsFound', 'True', 'WorkloadsFound'],
      ],
    );
  });

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const previous = [
      { type: 'Ready', status: 'True' as const, reason: 'A', message: '', lastTransitionTime: 'T1' },
    ];
    const next = withTransitionTimes(
      [
        { type: 'Ready', status: 'True', reason: 'A', message: 'changed' },
        { type: 'Customized', status: 'True', reason: 'B', message: '' },
      ],
      previous,
      'T2',
    );
    assert.deepEqual(
      next.map((c) => c.lastTransitionTime),
      ['T1', 'T2'],
    );
  });
});
