// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${device...}` placeholders are the feature, written as users write them.
/**
 * The placement controllers against a real ObjectService over SQLite, in
 * process: Mailboxes, customisation, collisions, summaries, device health,
 * and that reconciles write nothing when nothing changed.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import pino from 'pino';
import {
  eventually,
  recordWrites,
  startTestService,
  type TestService,
} from '../../../../test/support/in-process/index.ts';
import type { KubeObject, Mailbox, ObjectStatus, RolloutSummary } from '../../../api/index.ts';
import { Manager } from '../../../controller/index.ts';
import { ApiError, parse } from '../../kube-api/index.ts';
import { kindOf } from '../support.ts';
import { addPlacementControllers, createMailboxReconciler, type PlacementControllers } from './index.ts';

interface Env {
  readonly test: TestService;
  readonly controllers: PlacementControllers;
  /** Moves the controllers' wall clock. */
  advance(ms: number): void;
  create(kind: string, body: object): Promise<KubeObject>;
  get(kind: string, name: string, namespace?: string): Promise<KubeObject | undefined>;
  patch(kind: string, name: string, patch: object, namespace?: string, status?: boolean): Promise<void>;
  remove(kind: string, name: string, namespace?: string): Promise<void>;
  /** Waits until every controller's queue is empty and no reconcile runs. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

const running: Env[] = [];
afterEach(async () => {
  for (const env of running.splice(0)) await env.stop();
});

async function start(
  options: { startControllers?: boolean; progressDeadlineMs?: number } = {},
): Promise<Env> {
  const test = await startTestService();
  let now = Date.parse('2026-06-01T12:00:00Z');
  const manager = new Manager({ client: test.service });
  const controllers = addPlacementControllers(manager, {
    now: () => new Date(now),
    progressDeadlineMs: options.progressDeadlineMs,
    mailboxWorkers: 8,
  });
  const abort = new AbortController();
  let stopped: Promise<void>;
  if (options.startControllers === false) {
    stopped = Promise.all(Object.values(controllers.informers).map((i) => i.start(abort.signal))).then(
      () => {},
    );
  } else {
    stopped = manager.start(abort.signal);
  }
  const { service } = test;
  const def = (kind: string) => (kind === 'Namespace' ? test.kind('Namespace') : kindOf(service, kind));
  const env: Env = {
    test,
    controllers,
    advance: (ms) => {
      now += ms;
    },
    async create(kind, body) {
      return parse(
        await service.create(def(kind), (body as KubeObject).metadata.namespace, body as KubeObject, {
          fieldManager: 'test',
        }),
      );
    },
    async get(kind, name, namespace) {
      try {
        return parse(await service.get(def(kind), namespace, name));
      } catch (error) {
        if (error instanceof ApiError && error.code === 404) return undefined;
        throw error;
      }
    },
    async patch(kind, name, patch, namespace, status) {
      await service.patch(
        def(kind),
        namespace,
        name,
        'merge',
        patch,
        { fieldManager: 'test' },
        status ? 'status' : undefined,
      );
    },
    async remove(kind, name, namespace) {
      await service.delete(def(kind), namespace, name, {});
    },
    async settled() {
      // Idle twice in a row, a few turns apart: a watch event may be on its way.
      await eventually(async () => {
        if (!controllers.idle()) return false;
        await new Promise((resolve) => setTimeout(resolve, 30));
        return controllers.idle();
      }, 'controllers idle');
    },
    async stop() {
      abort.abort();
      await stopped;
      await test.close();
    },
  };
  running.push(env);
  await env.create('Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } });
  return env;
}

const device = (name: string, labels: Record<string, string>, periodSeconds = 15) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Device',
  metadata: { name, labels },
  spec: { heartbeat: { periodSeconds } },
});

const workload = (name: string, resources: object[], labels: Record<string, string> = {}) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Workload',
  metadata: { name, namespace: 'team', labels },
  spec: { resources },
});

const configMap = (name: string, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data,
});

const placement = (name: string, spec: object) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'Placement',
  metadata: { name, namespace: 'team' },
  spec,
});

/** The objects of a Mailbox as `workload/name`, with their data. */
async function contents(env: Env, name: string): Promise<Record<string, unknown> | undefined> {
  const mailbox = (await env.get('Mailbox', name)) as Mailbox | undefined;
  if (!mailbox) return undefined;
  return Object.fromEntries(
    (mailbox.spec?.objects ?? []).map((o) => [
      `${o.source.workload}/${o.object.metadata.name}`,
      (o.object as { data?: unknown }).data ?? {},
    ]),
  );
}

async function threeDevices(env: Env): Promise<void> {
  await env.create('Device', device('gw-1', { site: 'a', tier: 'edge' }));
  await env.create('Device', device('gw-2', { site: 'b', tier: 'edge' }));
  await env.create('Device', device('gw-3', { site: 'a' }));
  await env.create(
    'Workload',
    workload('web', [configMap('web', { site: '${device.labels.site}', who: '${device.name}' })], {
      app: 'web',
    }),
  );
  await env.create('Workload', workload('api', [configMap('api', { v: '1' })], { app: 'api' }));
}

describe('placement controllers', () => {
  it('gives every device a Mailbox holding the customised objects of the workloads placed on it', async () => {
    const env = await start();
    await threeDevices(env);
    await env.create(
      'Placement',
      placement('site-a', {
        workloadSelector: { names: ['web', 'api'] },
        deviceSelector: { matchLabels: { site: 'a' } },
      }),
    );
    await env.settled();
    assert.deepEqual(await contents(env, 'gw-1'), {
      'api/api': { v: '1' },
      'web/web': { site: 'a', who: 'gw-1' },
    });
    assert.deepEqual(await contents(env, 'gw-3'), {
      'api/api': { v: '1' },
      'web/web': { site: 'a', who: 'gw-3' },
    });
    assert.deepEqual(await contents(env, 'gw-2'), {}, 'an unmatched device still has an (empty) Mailbox');
    const mailbox = (await env.get('Mailbox', 'gw-1'))!;
    const owner = mailbox.metadata.ownerReferences?.[0];
    assert.equal(owner?.kind, 'Device');
    assert.equal(owner?.uid, (await env.get('Device', 'gw-1'))!.metadata.uid);
    const objects = (mailbox as Mailbox).spec!.objects!;
    assert.deepEqual(objects[0]!.source, { namespace: 'team', workload: 'api', placement: 'site-a' });
    assert.equal(objects[0]!.object.metadata.namespace, 'team');
    assert.match(objects[0]!.hash, /^sha256:/);
  });

  it('moves objects in and out when a device is relabelled, and follows label and expression selectors', async () => {
    const env = await start();
    await threeDevices(env);
    await env.create(
      'Placement',
      placement('edge', {
        workloadSelector: { matchLabels: { app: 'web' } },
        deviceSelector: {
          matchExpressions: [
            { key: 'tier', operator: 'Exists' },
            { key: 'site', operator: 'NotIn', values: ['b'] },
          ],
        },
      }),
    );
    await env.settled();
    assert.deepEqual(Object.keys((await contents(env, 'gw-1'))!), ['web/web']);
    assert.deepEqual(await contents(env, 'gw-2'), {});
    assert.deepEqual(await contents(env, 'gw-3'), {});
    await env.patch('Device', 'gw-2', { metadata: { labels: { site: 'c' } } });
    await env.patch('Device', 'gw-1', { metadata: { labels: { tier: null } } });
    await env.settled();
    assert.deepEqual(await contents(env, 'gw-2'), { 'web/web': { site: 'c', who: 'gw-2' } });
    assert.deepEqual(await contents(env, 'gw-1'), {});
  });

  it('runs a reconcile twice and writes once; a resync with nothing changed writes nothing', async () => {
    const env = await start({ startControllers: false });
    await threeDevices(env);
    await env.create('Placement', placement('all', { workloadSelector: {}, deviceSelector: {} }));
    const { informers, caches } = env.controllers;
    await Promise.all(Object.values(informers).map((i) => i.waitForSync()));
    await eventually(() => informers.placements.size === 1 && caches.devices.size === 3, 'caches filled');
    const reconciler = createMailboxReconciler({
      service: env.test.service,
      informers,
      caches,
      now: () => new Date(),
    });
    const context = {
      logger: pino({ level: 'silent' }),
      reconcileId: 'test',
      signal: new AbortController().signal,
    };
    const writes = await recordWrites(env.test.store);
    await reconciler.reconcile('gw-1', context);
    await eventually(() => informers.mailboxes.get(undefined, 'gw-1'), 'mailbox in the cache');
    await reconciler.reconcile('gw-1', context);
    assert.equal(writes.writes('/outpost.dev/mailboxes/').length, 1);
    writes.stop();

    const env2 = await start();
    await threeDevices(env2);
    await env2.create('Placement', placement('all', { workloadSelector: {}, deviceSelector: {} }));
    await env2.settled();
    const before = await recordWrites(env2.test.store);
    for (const informer of Object.values(env2.controllers.informers)) informer.resync();
    await env2.settled();
    assert.deepEqual(
      before.events.map((e) => e.key),
      [],
      'a resync wrote',
    );
    before.stop();
  });

  it('empties a deleted Workload from every Mailbox and deletes the Mailbox of a deleted Device', async () => {
    const env = await start();
    await threeDevices(env);
    await env.create('Placement', placement('all', { workloadSelector: {}, deviceSelector: {} }));
    await env.settled();
    assert.equal(Object.keys((await contents(env, 'gw-2'))!).length, 2);
    await env.remove('Workload', 'web', 'team');
    await env.remove('Device', 'gw-3');
    await env.settled();
    for (const name of ['gw-1', 'gw-2'])
      assert.deepEqual(Object.keys((await contents(env, name))!), ['api/api']);
    assert.equal(await env.get('Mailbox', 'gw-3'), undefined);
    await env.remove('Placement', 'all', 'team');
    await env.settled();
    assert.deepEqual(await contents(env, 'gw-1'), {});
  });

  it('leaves the later of two colliding objects out and says so on the Placement and both Workloads', async () => {
    const env = await start();
    await env.create('Device', device('gw-1', { site: 'a' }));
    await env.create('Workload', workload('first', [configMap('shared', { from: 'first' })]));
    env.advance(1000);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // creationTimestamp has 1 s resolution
    await env.create('Workload', workload('second', [configMap('shared', { from: 'second' })]));
    await env.create('Placement', placement('all', { workloadSelector: {}, deviceSelector: {} }));
    await env.settled();
    assert.deepEqual(await contents(env, 'gw-1'), { 'first/shared': { from: 'first' } });
    const status = (await env.get('Placement', 'all', 'team'))!.status as RolloutSummary;
    const conflicted = status.conditions?.find((c) => c.type === 'Conflicted');
    assert.equal(conflicted?.status, 'True');
    assert.match(conflicted!.message!, /device gw-1: ConfigMap shared: .*by Workload team\/first/);
    const second = (await env.get('Workload', 'second', 'team'))!.status as RolloutSummary;
    assert.equal(second.conditions?.find((c) => c.type === 'Conflicted')?.status, 'True');
    assert.deepEqual(second.failureReasons, [{ reason: 'Conflict', count: 1 }]);
  });

  it('reports a missing parameter in the Placement status, naming device and parameter', async () => {
    const env = await start();
    await env.create('Device', device('gw-1', { site: 'a', zone: 'z1' }));
    await env.create('Device', device('gw-2', { site: 'a' }));
    await env.create('Workload', workload('web', [configMap('zone', { z: '${device.labels.zone}' })]));
    await env.create('Placement', placement('all', { workloadSelector: {}, deviceSelector: {} }));
    await env.settled();
    assert.deepEqual(await contents(env, 'gw-1'), { 'web/zone': { z: 'z1' } });
    assert.deepEqual(await contents(env, 'gw-2'), {});
    const status = (await env.get('Placement', 'all', 'team'))!.status as RolloutSummary;
    const customized = status.conditions?.find((c) => c.type === 'Customized');
    assert.equal(customized?.status, 'False');
    assert.equal(customized?.reason, 'MissingParameter');
    assert.match(customized!.message!, /device gw-2: ConfigMap zone: \$\{device\.labels\.zone\} is not set/);
    assert.deepEqual(
      status.broken?.map((b) => [b.device, b.reason]),
      [['gw-2', 'MissingParameter']],
    );
  });

  it('summarises what devices report, turns Ready True, and fails a silent device at the progress deadline', async () => {
    const env = await start({ progressDeadlineMs: 60_000 });
    await env.create('Device', device('gw-1', { site: 'a' }));
    await env.create('Device', device('gw-2', { site: 'a' }));
    await env.create('Workload', workload('web', [configMap('web', { a: '1' })]));
    await env.create('Placement', placement('all', { workloadSelector: {}, deviceSelector: {} }));
    await env.settled();
    const report = async (name: string, phase: ObjectStatus['phase']) => {
      const mailbox = (await env.get('Mailbox', name)) as Mailbox;
      const objects = mailbox.spec!.objects!.map((o) => ({
        ref: {
          apiVersion: o.object.apiVersion,
          kind: o.object.kind,
          namespace: o.object.metadata.namespace,
          name: o.object.metadata.name,
        },
        observedHash: o.hash,
        phase,
        ready: phase === 'Running',
      }));
      await env.patch('Mailbox', name, { status: { objects } }, undefined, true);
    };
    const summaryOf = async (kind: string, name: string) =>
      (await env.get(kind, name, 'team'))!.status as RolloutSummary;
    let status = await summaryOf('Placement', 'all');
    assert.deepEqual(status.devices, { matched: 2, applied: 0, running: 0, failed: 0, unreachable: 0 });
    assert.equal(status.conditions?.find((c) => c.type === 'Ready')?.reason, 'Progressing');
    assert.ok(env.controllers.summary.queue.delayed > 0, 'a recheck is due at the deadline');
    await report('gw-1', 'Running');
    await env.settled();
    status = await summaryOf('Workload', 'web');
    assert.deepEqual(status.devices, { matched: 2, applied: 1, running: 1, failed: 0, unreachable: 0 });
    assert.equal(status.observedGeneration, 1);
    // The deadline passes without a word from gw-2 (the recheck is simulated by enqueueing at once).
    env.advance(61_000);
    env.controllers.summary.enqueue('Placement:team/all');
    env.controllers.summary.enqueue('Workload:team/web');
    await env.settled();
    status = await summaryOf('Placement', 'all');
    assert.deepEqual(status.devices, { matched: 2, applied: 1, running: 1, failed: 1, unreachable: 0 });
    assert.deepEqual(status.failureReasons, [{ reason: 'ProgressDeadlineExceeded', count: 1 }]);
    assert.equal(status.broken?.[0]?.device, 'gw-2');
    await report('gw-2', 'Running');
    await env.settled();
    status = await summaryOf('Placement', 'all');
    assert.deepEqual(status.devices, { matched: 2, applied: 2, running: 2, failed: 0, unreachable: 0 });
    assert.equal(status.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.deepEqual(status.broken, []);
  });

  it('marks a device Unreachable after three missed heartbeats and Online when they resume', async () => {
    const env = await start();
    await env.create('Device', device('gw-1', { site: 'a' }, 10));
    await env.create('Workload', workload('web', [configMap('web', { a: '1' })]));
    await env.create('Placement', placement('all', { workloadSelector: {}, deviceSelector: {} }));
    const beat = async () => {
      const last = new Date(Date.parse('2026-06-01T12:00:00Z')).toISOString().replace(/\.\d+Z$/, 'Z');
      await env.patch(
        'Device',
        'gw-1',
        { status: { phase: 'Online', lastHeartbeatTime: last } },
        undefined,
        true,
      );
    };
    await beat();
    await env.settled();
    assert.ok(env.controllers.deviceHealth.queue.delayed > 0, 'expiry is rechecked without an event');
    env.advance(29_000);
    env.controllers.deviceHealth.enqueue('gw-1');
    await env.settled();
    assert.equal(((await env.get('Device', 'gw-1'))!.status as { phase: string }).phase, 'Online');
    env.advance(2_000);
    env.controllers.deviceHealth.enqueue('gw-1');
    await env.settled();
    const status = (await env.get('Device', 'gw-1'))!.status as {
      phase: string;
      conditions: Array<{ type: string; status: string; reason: string }>;
    };
    assert.equal(status.phase, 'Unreachable');
    assert.deepEqual(
      status.conditions.find((c) => c.type === 'Ready'),
      {
        ...status.conditions.find((c) => c.type === 'Ready'),
        status: 'False',
        reason: 'HeartbeatTimeout',
      },
    );
    const placementStatus = (await env.get('Placement', 'all', 'team'))!.status as RolloutSummary;
    assert.equal(placementStatus.devices?.unreachable, 1);
    assert.deepEqual(placementStatus.failureReasons, [{ reason: 'DeviceUnreachable', count: 1 }]);
    // A heartbeat arrives again.
    await env.patch(
      'Device',
      'gw-1',
      {
        status: {
          lastHeartbeatTime: new Date(Date.parse('2026-06-01T12:00:31Z'))
            .toISOString()
            .replace(/\.\d+Z$/, 'Z'),
        },
      },
      undefined,
      true,
    );
    await env.settled();
    assert.equal(((await env.get('Device', 'gw-1'))!.status as { phase: string }).phase, 'Online');
  });

  it("times heartbeats on the hub's clock: a device whose clock is a day behind stays Online while it beats", async () => {
    const env = await start();
    await env.create('Device', device('gw-late', { site: 'a' }, 10));
    const dayBehind = (seconds: number) =>
      new Date(Date.parse('2026-06-01T12:00:00Z') - 86_400_000 + seconds * 1000)
        .toISOString()
        .replace(/\.\d+Z$/, 'Z');
    for (let beat = 0; beat < 5; beat++) {
      await env.patch(
        'Device',
        'gw-late',
        { status: { phase: 'Online', lastHeartbeatTime: dayBehind(beat * 10) } },
        undefined,
        true,
      );
      await env.settled();
      env.advance(10_000);
      env.controllers.deviceHealth.enqueue('gw-late');
      await env.settled();
      assert.equal(((await env.get('Device', 'gw-late'))!.status as { phase: string }).phase, 'Online');
    }
    // It stops beating: three periods after the hub last saw a beat it is Unreachable, whatever its clock said.
    env.advance(31_000);
    env.controllers.deviceHealth.enqueue('gw-late');
    await env.settled();
    assert.equal(((await env.get('Device', 'gw-late'))!.status as { phase: string }).phase, 'Unreachable');
  });

  it('leaves an unplaced Workload without status, and says NoDevices once a summarised one is unplaced', async () => {
    const env = await start();
    await env.create('Device', device('gw-1', { site: 'a' }));
    await env.create('Workload', workload('alone', [configMap('alone', {})]));
    await env.create('Workload', workload('web', [configMap('web', {})]));
    await env.create(
      'Placement',
      placement('web', { workloadSelector: { names: ['web'] }, deviceSelector: {} }),
    );
    await env.settled();
    assert.equal((await env.get('Workload', 'alone', 'team'))!.status, undefined);
    const placed = (await env.get('Workload', 'web', 'team'))!.status as RolloutSummary;
    assert.equal(placed.devices?.matched, 1);
    await env.remove('Placement', 'web', 'team');
    await env.settled();
    const unplaced = (await env.get('Workload', 'web', 'team'))!.status as RolloutSummary;
    assert.equal(unplaced.devices?.matched, 0);
    assert.equal(unplaced.conditions?.find((c) => c.type === 'Ready')?.reason, 'NoDevices');
  });

  it('refuses a Placement whose override patch is invalid with 422 naming the field', async () => {
    const env = await start();
    await assert.rejects(
      env.create(
        'Placement',
        placement('bad', {
          workloadSelector: {},
          deviceSelector: { matchExpressions: [{ key: 'site', operator: 'In' }] },
          customization: {
            overrides: [
              {
                deviceSelector: {},
                patch: [
                  { op: 'add', path: '/data/x', value: 1 },
                  { op: 'replace', path: 'data/x', value: 2 },
                  { op: 'copy', path: '/a' },
                  { op: 'add', path: '/b' },
                ],
              },
            ],
          },
        }),
      ),
      (error: unknown) => {
        assert.ok(error instanceof ApiError && error.code === 422, String(error));
        const fields = ((error as ApiError).details?.causes ?? []).map((c: { field?: string }) => c.field);
        assert.deepEqual(fields, [
          'spec.deviceSelector.matchExpressions[0].values',
          'spec.customization.overrides[0].patch[1].path',
          'spec.customization.overrides[0].patch[2].from',
          'spec.customization.overrides[0].patch[3].value',
        ]);
        return true;
      },
    );
    await assert.rejects(
      env.create(
        'Placement',
        placement('bad2', {
          workloadSelector: {},
          deviceSelector: {},
          customization: { overrides: [{ deviceSelector: {}, patch: [{ op: 'frobnicate', path: '/x' }] }] },
        }),
      ),
      (error: unknown) =>
        error instanceof ApiError &&
        error.code === 422 &&
        /overrides\[0\]\.patch\[0\]\.op/.test(JSON.stringify(error.details)),
    );
  });
});
