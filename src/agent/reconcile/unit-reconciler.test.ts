import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { cronPolicy, type Mailbox, type MailboxObject } from '../../api/index.ts';
import { ResourceGuard } from '../policy/index.ts';
import { createProcessRuntime, type Runtime } from '../runtime/index.ts';
import { CronRuns } from './cron-runs.ts';
import { desiredStateOf } from './desired.ts';
import { type MailboxStatus, type Refusal, UnitReconciler } from './unit-reconciler.ts';

const source = { namespace: 'ns', workload: 'w', placement: 'p' };
const pod = (name: string, hash: string, command = 'exec sleep 300'): MailboxObject => ({
  source,
  hash,
  object: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns' },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', command: ['sh', '-c', command] }] },
  } as MailboxObject['object'],
});
const configMap: MailboxObject = {
  source,
  hash: 'sha256:cm',
  object: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'cfg', namespace: 'ns' },
    data: { a: 'b' },
  } as MailboxObject['object'],
};
const mailbox = (objects: MailboxObject[], status?: MailboxStatus): Mailbox =>
  ({
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Mailbox',
    metadata: { name: 'dev', generation: 1 },
    spec: { objects },
    ...(status ? { status } : {}),
  }) as Mailbox;

describe('reconciler with the process runtime', () => {
  let dir: string;
  let runtime: Runtime;
  const reports: Array<{ status: MailboxStatus; transition: boolean }> = [];
  let reconciler: UnitReconciler;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-reconcile-'));
    runtime = createProcessRuntime({ dir });
    await runtime.start();
    reconciler = new UnitReconciler({
      runtime,
      log: pino({ level: 'silent' }),
      onStatus: async (status, transition) => {
        reports.push({ status, transition });
      },
    });
  });

  after(async () => {
    await runtime.close({ stopUnits: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('touches nothing before it knows a Mailbox', async () => {
    const [leftover] = desiredStateOf([pod('leftover', 'sha256:l')]).units;
    await runtime.apply(leftover!);
    await reconciler.pass();
    assert.deepEqual(
      (await runtime.list()).map((u) => u.id),
      [leftover!.id],
    );
    assert.equal(reports.length, 0);
  });

  it('starts what is missing, removes what left, and reports each object once', async () => {
    reconciler.setDesired(mailbox([configMap, pod('web', 'sha256:w1')]));
    await reconciler.pass();
    const units = await runtime.list();
    assert.deepEqual(
      units.map((u) => u.ref.name),
      ['web'],
    );
    assert.equal(reports.length, 1);
    const [report] = reports;
    assert.equal(report!.transition, true);
    assert.deepEqual(
      report!.status.objects!.map(({ lastTransitionTime, ...rest }) => rest),
      [
        {
          ref: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: 'cfg' },
          observedHash: 'sha256:cm',
          phase: 'Running',
          ready: true,
        },
        {
          ref: { apiVersion: 'v1', kind: 'Pod', namespace: 'ns', name: 'web' },
          observedHash: 'sha256:w1',
          phase: 'Running',
          ready: true,
          restarts: 0,
        },
      ],
    );
    assert.equal(report!.status.observedGeneration, 1);
  });

  it('writes nothing when nothing changed, even when the hub echoes the status back', async () => {
    await reconciler.pass();
    reconciler.setDesired(mailbox([configMap, pod('web', 'sha256:w1')], reports[0]!.status));
    await reconciler.pass();
    assert.equal(reports.length, 1);
  });

  it('replaces a unit whose hash changed and reports the new observedHash', async () => {
    const before = (await runtime.list())[0]!;
    reconciler.setDesired(
      mailbox([configMap, pod('web', 'sha256:w2', 'exec sleep 301')], reports[0]!.status),
    );
    await reconciler.pass();
    const after = (await runtime.list())[0]!;
    assert.equal(after.id, before.id);
    assert.notEqual(after.hash, before.hash);
    assert.equal(reports.length, 2);
    assert.equal(reports[1]!.status.objects![1]!.observedHash, 'sha256:w2');
    assert.equal(reports[1]!.transition, true);
  });

  it('runs nothing of an object it cannot run sensibly and reports why', async () => {
    const empty = pod('empty', 'sha256:e');
    (empty.object as unknown as { spec: { containers: unknown[] } }).spec.containers = [];
    reconciler.setDesired(
      mailbox([configMap, pod('web', 'sha256:w2', 'exec sleep 301'), empty], reports[1]!.status),
    );
    await reconciler.pass();
    assert.deepEqual(
      (await runtime.list()).map((unit) => unit.id).filter((id) => id.includes('empty')),
      [],
    );
    const status = reports.at(-1)!.status.objects!.find((object) => object.ref.name === 'empty')!;
    assert.equal(status.reason, 'ApplyFailed');
    assert.equal(status.observedHash, 'sha256:e');
    assert.match(status.message ?? '', /not run: Pod empty: the pod spec has no containers/);
  });

  it('removes everything when the Mailbox is emptied', async () => {
    reconciler.setDesired(mailbox([], reports.at(-1)!.status));
    await reconciler.pass();
    assert.deepEqual(await runtime.list(), []);
    assert.deepEqual(reports.at(-1)!.status.objects, []);
  });
});

describe('reconciler with refusals (the resource guard’s admit)', () => {
  let dir: string;
  let runtime: Runtime;
  const reports: MailboxStatus[] = [];
  let refusals = new Map<string, Refusal>();
  let reconciler: UnitReconciler;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-reconcile-admit-'));
    runtime = createProcessRuntime({ dir });
    await runtime.start();
    reconciler = new UnitReconciler({
      runtime,
      log: pino({ level: 'silent' }),
      admit: () => refusals,
      onStatus: async (status) => {
        reports.push(status);
      },
    });
  });

  after(async () => {
    await runtime.close({ stopUnits: true });
    await rm(dir, { recursive: true, force: true });
  });

  const idOf = (object: MailboxObject) => desiredStateOf([object]).units[0]!.id;
  const statusOf = (name: string) => reports.at(-1)?.objects?.find((o) => o.ref.name === name);

  it('leaves the running version of a unit whose replacement is refused, and stops an evicted one', async () => {
    reconciler.setDesired(mailbox([pod('a', 'sha256:a1'), pod('b', 'sha256:b1')]));
    await reconciler.pass();
    const before = new Map((await runtime.list()).map((u) => [u.id, u.hash]));
    assert.equal(before.size, 2);

    const a2 = pod('a', 'sha256:a2', 'exec sleep 302');
    refusals = new Map([
      [idOf(a2), { phase: 'Pending', reason: 'InsufficientMemory', message: 'requests 1Gi' }],
    ]);
    reconciler.setDesired(mailbox([a2, pod('b', 'sha256:b1')], reports.at(-1)));
    await reconciler.pass();
    const during = new Map((await runtime.list()).map((u) => [u.id, u.hash]));
    assert.equal(during.get(idOf(a2)), before.get(idOf(a2)), 'the old version of a still runs');
    assert.deepEqual(
      {
        phase: statusOf('a')?.phase,
        reason: statusOf('a')?.reason,
        observedHash: statusOf('a')?.observedHash,
      },
      { phase: 'Pending', reason: 'InsufficientMemory', observedHash: 'sha256:a2' },
    );

    const b = pod('b', 'sha256:b1');
    refusals = new Map([
      [idOf(b), { phase: 'Failed', reason: 'Evicted', message: 'evicted: low on memory' }],
    ]);
    reconciler.setDesired(mailbox([a2, b], reports.at(-1)));
    await reconciler.pass();
    const after = (await runtime.list()).map((u) => u.ref.name).sort();
    assert.deepEqual(after, ['a'], 'b was stopped and removed');
    assert.deepEqual(
      { phase: statusOf('b')?.phase, reason: statusOf('b')?.reason, message: statusOf('b')?.message },
      { phase: 'Failed', reason: 'Evicted', message: 'evicted: low on memory' },
    );
    // a admitted again: its new version replaces the old one.
    refusals = new Map();
    await reconciler.pass();
    assert.equal((await runtime.list()).find((u) => u.ref.name === 'a')?.objectHash, 'sha256:a2');
  });
});

describe('cron runs and the resource guard', () => {
  let dir: string;
  let runtime: Runtime;
  let guard: ResourceGuard;
  let reconciler: UnitReconciler;
  const reports: MailboxStatus[] = [];
  const stop = new AbortController();
  let postedMemory: number | undefined;
  // The schedules run on this clock (every second); the processes on the real one.
  let now = new Date('2026-12-07T10:00:00.200Z');

  const cronPod = (name: string, requests?: Record<string, string>): MailboxObject => {
    const entry = pod(name, `sha256:${name}`);
    entry.cron = cronPolicy({ schedule: '* * * * * *', concurrencyPolicy: 'Forbid' });
    if (requests)
      (entry.object as unknown as { spec: { containers: Array<Record<string, unknown>> } }).spec
        .containers[0]!.resources = { requests };
    return entry;
  };
  // Burstable: it requests memory and sets no limit.
  const steady = pod('steady', 'sha256:steady');
  (steady.object as unknown as { spec: { containers: Array<Record<string, unknown>> } }).spec
    .containers[0]!.resources = { requests: { memory: '1Mi' } };
  const objects = [steady, cronPod('small'), cronPod('big', { memory: '1Ti' })];
  const runsOf = (name: string) =>
    reports.at(-1)?.objects?.find((o) => o.ref.name === name)?.cron?.runs ?? [];
  // Units by name: a run's unit keeps its object's ref, its id names the run.
  const running = async () =>
    (await runtime.list()).map((u) => /-(small-run-\d+)-/.exec(u.id)?.[1] ?? u.ref.name).sort();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-reconcile-cron-guard-'));
    runtime = createProcessRuntime({ dir: join(dir, 'runtime') });
    await runtime.start();
    const log = pino({ level: 'silent' });
    guard = new ResourceGuard({
      dataDir: dir,
      log,
      posted: (name) => (name === 'memory' ? postedMemory : undefined),
      onChange: () => reconciler.trigger(),
      checkMs: 20,
      evictionIntervalMs: 60_000,
    });
    await guard.start();
    void guard.run(stop.signal);
    reconciler = new UnitReconciler({
      runtime,
      log,
      cron: await CronRuns.open({ file: join(dir, 'cron.json'), log, now: () => now }),
      admit: (units, actual) => guard.admit(units, actual),
      onStatus: async (status) => {
        reports.push(status);
      },
    });
  });

  after(async () => {
    stop.abort();
    await runtime.close({ stopUnits: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('does not start a run whose requests cut into the reserve: it ends Failed, InsufficientMemory', async () => {
    reconciler.setDesired(mailbox(objects));
    await reconciler.pass();
    now = new Date('2026-12-07T10:00:01.300Z');
    await reconciler.pass();
    assert.deepEqual(await running(), ['small-run-1', 'steady']);
    const [big] = runsOf('big');
    assert.equal(big?.phase, 'Failed');
    assert.equal(big?.reason, 'InsufficientMemory');
    assert.match(big?.message ?? '', /^requests \S+ of memory; the device has .* left for workloads/);
    assert.equal(big?.startTime, undefined, 'never started');
    assert.deepEqual(
      runsOf('small').map((r) => r.phase),
      ['Running'],
    );
    assert.match(
      reports.at(-1)!.objects!.find((o) => o.ref.name === 'big')!.message!,
      /last run 1 Failed \(InsufficientMemory\)/,
    );
    // The next pass (one a second while cron objects exist) sees the run running: it may be evicted.
    now = new Date('2026-12-07T10:00:01.500Z');
    await reconciler.pass();
    assert.deepEqual(await running(), ['small-run-1', 'steady']);
  });

  it('evicts a running run first under pressure (BestEffort before Burstable), and refuses the next one', async () => {
    postedMemory = 100;
    const deadline = Date.now() + 10_000;
    while (guard.report()?.evicted !== 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(guard.report()?.evicted, 1, 'one unit evicted');
    await reconciler.pass();
    assert.deepEqual(await running(), ['steady'], 'the run was stopped, the Burstable Pod kept');
    const [run1] = runsOf('small');
    assert.deepEqual({ phase: run1?.phase, reason: run1?.reason }, { phase: 'Failed', reason: 'Evicted' });
    assert.match(run1?.message ?? '', /^evicted: the device was low on memory .* BestEffort, priority 0/);
    // The next scheduled time comes under pressure: a BestEffort run is not started.
    now = new Date('2026-12-07T10:00:02.300Z');
    await reconciler.pass();
    assert.deepEqual(await running(), ['steady']);
    const run2 = runsOf('small').find((r) => r.run === 2);
    assert.deepEqual(
      { phase: run2?.phase, reason: run2?.reason },
      { phase: 'Failed', reason: 'InsufficientMemory' },
    );
  });
});

describe('update windows', () => {
  let dir: string;
  let runtime: Runtime;
  const reports: MailboxStatus[] = [];
  let clock = new Date('2026-12-08T01:00:00Z');
  let reconciler: UnitReconciler;
  const updateWindow = { schedule: '0 3 * * *', duration: '1h', timeZone: 'UTC' };
  const windowed = (hash: string, command: string): MailboxObject => ({
    ...pod('win', hash, command),
    updateWindow,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-window-'));
    runtime = createProcessRuntime({ dir });
    await runtime.start();
    reconciler = new UnitReconciler({
      runtime,
      log: pino({ level: 'silent' }),
      now: () => clock,
      onStatus: async (status) => {
        reports.push(status);
      },
    });
  });

  after(async () => {
    await runtime.close({ stopUnits: true });
    await rm(dir, { recursive: true, force: true });
  });

  const running = async () => (await runtime.list()).map((u) => u.hash);

  it('starts a new unit at once, outside its window', async () => {
    const first = [windowed('sha256:v1', 'exec sleep 301')];
    reconciler.setDesired(mailbox(first));
    await reconciler.pass();
    assert.deepEqual(await running(), [desiredStateOf(first).units[0]!.hash]);
  });

  it('keeps the running version while the window is closed, reporting the wait', async () => {
    const before = await running();
    reconciler.setDesired(mailbox([windowed('sha256:v2', 'exec sleep 302')]));
    await reconciler.pass();
    assert.deepEqual(await running(), before);
    const status = reports.at(-1)!.objects![0]!;
    assert.equal(status.observedHash, 'sha256:v2');
    assert.equal(status.phase, 'Pending');
    assert.equal(status.reason, 'WaitingForUpdateWindow');
    assert.equal(status.message, 'the update window opens at 2026-12-08T03:00:00.000Z');
  });

  it('replaces it once the window opens', async () => {
    clock = new Date('2026-12-08T03:10:00Z');
    const second = [windowed('sha256:v2', 'exec sleep 302')];
    await reconciler.pass();
    assert.deepEqual(await running(), [desiredStateOf(second).units[0]!.hash]);
    assert.notEqual(reports.at(-1)!.objects![0]!.reason, 'WaitingForUpdateWindow');
  });

  it('waits again after the window closed', async () => {
    clock = new Date('2026-12-08T04:00:00Z');
    const before = await running();
    reconciler.setDesired(mailbox([windowed('sha256:v3', 'exec sleep 303')]));
    await reconciler.pass();
    assert.deepEqual(await running(), before);
    assert.equal(reports.at(-1)!.objects![0]!.message, 'the update window opens at 2026-12-09T03:00:00.000Z');
  });
});
