/**
 * Summaries that tell the truth, in process (real ObjectService over SQLite,
 * the placement controllers and the Event recorder): a Placement naming a
 * Workload that does not exist says so instead of "all running", and a
 * failure an agent reports reaches the Workload's and Placement's counts,
 * reasons and broken list in the next summary pass — with a Warning Event on
 * each, told once.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { type ControllersTestEnv, startControllersEnv } from '../../../../test/support/in-process/index.ts';
import type { Mailbox, ObjectStatus, RolloutSummary } from '../../../api/index.ts';

const running: ControllersTestEnv[] = [];
afterEach(async () => {
  for (const env of running.splice(0)) await env.stop();
});

async function start(): Promise<ControllersTestEnv> {
  const env = await startControllersEnv({ progressDeadlineMs: 300_000 });
  running.push(env);
  return env;
}

const device = (name: string) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name, labels: { site: 'a' } },
  spec: { approved: true },
});

const deployment = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'x' }] } },
  },
});

/** A Workload of one Deployment, named after the Workload unless `object` says otherwise. */
const workload = (name: string, object = name) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name, namespace: 'team' },
  spec: { resources: [deployment(object)] },
});

const placement = (names: string[]) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Placement',
  metadata: { name: 'plant', namespace: 'team' },
  spec: { workloadSelector: { names }, deviceSelector: { matchLabels: { site: 'a' } } },
});

const conditionOf = (status: RolloutSummary | undefined, type: string) =>
  status?.conditions?.find((c) => c.type === type);

/** Writes an agent's report of every object of a device's Mailbox, as the agent does. */
async function report(env: ControllersTestEnv, name: string, status: Partial<ObjectStatus>): Promise<void> {
  const mailbox = (await env.get('Mailbox', name)) as Mailbox;
  const objects = mailbox.spec!.objects!.map((o) => ({
    ref: {
      apiVersion: o.object.apiVersion,
      kind: o.object.kind,
      namespace: o.object.metadata.namespace,
      name: o.object.metadata.name,
    },
    observedHash: o.hash,
    phase: 'Pending' as const,
    ...status,
  }));
  await env.patch(
    'Mailbox',
    name,
    { status: { observedGeneration: mailbox.metadata?.generation, objects } },
    undefined,
    true,
  );
}

describe('summaries that tell the truth', () => {
  it('says WorkloadNotFound with the missing names and Ready False for a Placement naming absent Workloads', async () => {
    const env = await start();
    await env.create('Device', device('gw-1'));
    await env.create('Placement', placement(['ghost', 'phantom']));
    await env.settled();
    let status = (await env.get('Placement', 'plant', 'team'))!.status as RolloutSummary;
    assert.deepEqual(
      [conditionOf(status, 'WorkloadsFound')?.status, conditionOf(status, 'WorkloadsFound')?.reason],
      ['False', 'WorkloadNotFound'],
    );
    assert.equal(conditionOf(status, 'WorkloadsFound')?.message, 'workloads not found: ghost, phantom');
    assert.equal(conditionOf(status, 'Ready')?.status, 'False');
    assert.equal(conditionOf(status, 'Ready')?.reason, 'WorkloadNotFound');
    assert.deepEqual(status.devices, { matched: 1, applied: 0, running: 0, failed: 0, unreachable: 0 });
    const told = await env.events({ kind: 'Placement', name: 'plant' });
    assert.deepEqual(
      told.map((e) => [e.type, e.reason, e.message]),
      [['Warning', 'WorkloadNotFound', 'workloads not found: ghost, phantom']],
    );
    // One of them appears: the condition names the other one only.
    await env.create('Workload', workload('ghost'));
    await env.settled();
    status = (await env.get('Placement', 'plant', 'team'))!.status as RolloutSummary;
    assert.equal(conditionOf(status, 'WorkloadsFound')?.message, 'workloads not found: phantom');
    assert.equal(conditionOf(status, 'Ready')?.status, 'False');
    await env.create('Workload', workload('phantom'));
    await env.settled();
    await report(env, 'gw-1', { phase: 'Running', ready: true });
    await env.settled();
    status = (await env.get('Placement', 'plant', 'team'))!.status as RolloutSummary;
    assert.deepEqual(
      [conditionOf(status, 'WorkloadsFound')?.status, conditionOf(status, 'Ready')?.status],
      ['True', 'True'],
    );
  });

  for (const [phase, reason] of [
    ['Pending', 'CreateContainerConfigError'],
    ['Pending', 'ImageNotPresent'],
    ['Pending', 'StartFailed'],
    ['Running', 'CrashLoopBackOff'],
  ] as const) {
    it(`counts ${reason} reported by an agent as failed in the next summary pass, with a Warning Event`, async () => {
      const env = await start();
      await env.create('Device', device('gw-1'));
      await env.create('Device', device('gw-2'));
      await env.create('Workload', workload('web'));
      await env.create('Placement', placement(['web']));
      await env.settled();
      const message = `container main: ${reason} on purpose`;
      await report(env, 'gw-1', { phase, ready: false, reason, message });
      await report(env, 'gw-2', { phase: 'Running', ready: true });
      await env.settled();
      for (const kind of ['Placement', 'Workload']) {
        const name = kind === 'Placement' ? 'plant' : 'web';
        const status = (await env.get(kind, name, 'team'))!.status as RolloutSummary;
        assert.deepEqual(
          status.devices,
          { matched: 2, applied: 2, running: 1, failed: 1, unreachable: 0 },
          kind,
        );
        assert.deepEqual(status.failureReasons, [{ reason, count: 1 }], kind);
        assert.deepEqual(status.broken, [
          { device: 'gw-1', reason, message: `Deployment team/web failed: ${message}` },
        ]);
        assert.equal(conditionOf(status, 'Ready')?.reason, 'Failed');
        const told = await env.events({ kind, name, reason });
        assert.deepEqual(
          told.map((e) => [e.type, e.message, e.count]),
          [['Warning', `device gw-1: Deployment team/web failed: ${message}`, 1]],
          kind,
        );
      }
      // More passes over the same state tell nothing more.
      env.placement.summary.enqueue('Placement:team/plant');
      env.placement.summary.enqueue('Workload:team/web');
      await env.settled();
      assert.equal((await env.events({ reason })).length, 2);
    });
  }

  it('tells a placement conflict once, as a Warning on the Placement that lost', async () => {
    const env = await start();
    await env.create('Device', device('gw-1'));
    await env.create('Workload', workload('web'));
    await env.create('Workload', workload('web-copy', 'web'));
    await env.create('Placement', placement(['web', 'web-copy']));
    await env.settled();
    const status = (await env.get('Placement', 'plant', 'team'))!.status as RolloutSummary;
    assert.equal(conditionOf(status, 'Conflicted')?.status, 'True');
    const told = await env.events({ kind: 'Placement', reason: 'ObjectCollision' });
    assert.equal(told.length, 1);
    assert.equal(told[0]!.type, 'Warning');
    assert.match(told[0]!.message, /objects left out on 1 device: device gw-1: Deployment web/);
  });
});
