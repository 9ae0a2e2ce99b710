import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { Mailbox, MailboxObject } from '../../api/index.ts';
import { createProcessRuntime, type Runtime } from '../runtime/index.ts';
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
