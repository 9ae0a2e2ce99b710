/**
 * DeviceBoundaries against the placement controllers, in process over a real
 * ObjectService: a namespace's Placements reach only the devices its
 * boundaries allow (ANDed), whatever their own deviceSelector says; the
 * Placement's DevicesExcluded condition counts the devices left out; changes
 * of a boundary, of a device's labels and its removal move objects in and
 * out; with bounds required, an unbounded namespace places on nothing.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { eventually, startTestService, type TestService } from '../../../../test/support/in-process/index.ts';
import type { KubeObject, Mailbox, RolloutSummary } from '../../../api/index.ts';
import { Manager } from '../../../controller/index.ts';
import { ApiError, parse } from '../../kube-api/index.ts';
import { kindOf } from '../support.ts';
import { addPlacementControllers, type PlacementControllers } from './index.ts';

interface Env {
  readonly test: TestService;
  readonly controllers: PlacementControllers;
  create(kind: string, body: object): Promise<void>;
  get(kind: string, name: string, namespace?: string): Promise<KubeObject | undefined>;
  patch(kind: string, name: string, patch: object, namespace?: string): Promise<void>;
  remove(kind: string, name: string): Promise<void>;
  settled(): Promise<void>;
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function start(requireDeviceBounds = false): Promise<Env> {
  const test = await startTestService();
  const manager = new Manager({ client: test.service });
  const controllers = addPlacementControllers(manager, { requireDeviceBounds, mailboxWorkers: 8 });
  const abort = new AbortController();
  const stopped = manager.start(abort.signal);
  stops.push(async () => {
    abort.abort();
    await stopped;
    await test.close();
  });
  const { service } = test;
  const def = (kind: string) => (kind === 'Namespace' ? test.kind('Namespace') : kindOf(service, kind));
  const env: Env = {
    test,
    controllers,
    async create(kind, body) {
      const object = body as KubeObject;
      await service.create(def(kind), object.metadata.namespace, object, { fieldManager: 'test' });
    },
    async get(kind, name, namespace) {
      try {
        return parse(await service.get(def(kind), namespace, name));
      } catch (error) {
        if (error instanceof ApiError && error.code === 404) return undefined;
        throw error;
      }
    },
    async patch(kind, name, patch, namespace) {
      await service.patch(def(kind), namespace, name, 'merge', patch, { fieldManager: 'test' });
    },
    async remove(kind, name) {
      await service.delete(def(kind), undefined, name, {});
    },
    async settled() {
      await eventually(async () => {
        if (!controllers.idle()) return false;
        await new Promise((resolve) => setTimeout(resolve, 30));
        return controllers.idle();
      }, 'controllers idle');
    },
  };
  for (const name of ['team-a', 'team-b'])
    await env.create('Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const devices: Array<[string, Record<string, string>]> = [
    ['gw-1', { site: 'berlin', tier: 'edge' }],
    ['gw-2', { site: 'berlin' }],
    ['gw-3', { site: 'munich', tier: 'edge' }],
  ];
  for (const [name, labels] of devices)
    await env.create('Device', {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Device',
      metadata: { name, labels },
      spec: { heartbeat: { periodSeconds: 15 } },
    });
  for (const ns of ['team-a', 'team-b']) {
    await env.create('Workload', {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'web', namespace: ns },
      spec: {
        resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `web-${ns}` }, data: {} }],
      },
    });
    // Every team asks for every device.
    await env.create('Placement', {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Placement',
      metadata: { name: 'everywhere', namespace: ns },
      spec: { workloadSelector: {}, deviceSelector: {} },
    });
  }
  return env;
}

const boundary = (name: string, namespaces: string[], deviceSelector: object) => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'DeviceBoundary',
  metadata: { name },
  spec: { namespaces, deviceSelector },
});

/** The namespaces whose objects each device's Mailbox holds. */
async function placed(env: Env): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const device of ['gw-1', 'gw-2', 'gw-3']) {
    const mailbox = (await env.get('Mailbox', device)) as Mailbox | undefined;
    result[device] = [...new Set((mailbox?.spec?.objects ?? []).map((o) => o.source.namespace))].sort();
  }
  return result;
}

async function summaryOf(env: Env, ns: string) {
  const status = (await env.get('Placement', 'everywhere', ns))?.status as RolloutSummary | undefined;
  const excluded = status?.conditions?.find((c) => c.type === 'DevicesExcluded');
  return { matched: status?.devices?.matched, excluded };
}

describe('device boundaries', () => {
  it('places only on the devices a namespace is bounded to, and says how many were excluded', async () => {
    const env = await start();
    await env.create(
      'DeviceBoundary',
      boundary('team-a-berlin', ['team-a'], { matchLabels: { site: 'berlin' } }),
    );
    await env.settled();
    assert.deepEqual(await placed(env), {
      'gw-1': ['team-a', 'team-b'],
      'gw-2': ['team-a', 'team-b'],
      'gw-3': ['team-b'],
    });
    const a = await summaryOf(env, 'team-a');
    assert.equal(a.matched, 2, 'devices outside the boundary are not matched');
    assert.equal(a.excluded?.status, 'True');
    assert.equal(a.excluded?.reason, 'OutsideDeviceBoundary');
    assert.equal(
      a.excluded?.message,
      '1 device matched by spec.deviceSelector excluded, outside the DeviceBoundary of namespace team-a (team-a-berlin): gw-3',
    );
    const b = await summaryOf(env, 'team-b');
    assert.equal(b.matched, 3);
    assert.deepEqual([b.excluded?.status, b.excluded?.reason], ['False', 'Unbounded']);
  });

  it('ANDs several boundaries, and follows their changes, their removal and device relabelling', async () => {
    const env = await start();
    await env.create(
      'DeviceBoundary',
      boundary('berlin', ['team-a', 'team-b'], { matchLabels: { site: 'berlin' } }),
    );
    await env.create(
      'DeviceBoundary',
      boundary('edge', ['team-a'], { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }),
    );
    await env.settled();
    assert.deepEqual(await placed(env), { 'gw-1': ['team-a', 'team-b'], 'gw-2': ['team-b'], 'gw-3': [] });
    assert.match(
      (await summaryOf(env, 'team-a')).excluded!.message!,
      /^2 devices matched by spec.deviceSelector excluded, outside the DeviceBoundaries of namespace team-a \(berlin, edge\): gw-2, gw-3$/,
    );

    // The admin widens one boundary: munich joins, for both teams.
    await env.patch('DeviceBoundary', 'berlin', {
      spec: {
        deviceSelector: {
          matchLabels: null,
          matchExpressions: [{ key: 'site', operator: 'In', values: ['berlin', 'munich'] }],
        },
      },
    });
    await env.settled();
    assert.deepEqual(await placed(env), {
      'gw-1': ['team-a', 'team-b'],
      'gw-2': ['team-b'],
      'gw-3': ['team-a', 'team-b'],
    });
    // gw-2 gets the edge tier: now inside both of team-a's boundaries.
    await env.patch('Device', 'gw-2', { metadata: { labels: { tier: 'edge' } } });
    await env.settled();
    assert.deepEqual((await placed(env))['gw-2'], ['team-a', 'team-b']);
    assert.deepEqual(
      [(await summaryOf(env, 'team-a')).excluded?.status, (await summaryOf(env, 'team-a')).excluded?.reason],
      ['False', 'WithinDeviceBoundary'],
    );
    // A boundary no longer naming team-b frees it.
    await env.patch('DeviceBoundary', 'berlin', {
      spec: {
        namespaces: ['team-a'],
        deviceSelector: { matchLabels: { site: 'berlin' }, matchExpressions: null },
      },
    });
    await env.settled();
    assert.deepEqual(await placed(env), {
      'gw-1': ['team-a', 'team-b'],
      'gw-2': ['team-a', 'team-b'],
      'gw-3': ['team-b'],
    });
    await env.remove('DeviceBoundary', 'berlin');
    await env.remove('DeviceBoundary', 'edge');
    await env.settled();
    assert.deepEqual(await placed(env), {
      'gw-1': ['team-a', 'team-b'],
      'gw-2': ['team-a', 'team-b'],
      'gw-3': ['team-a', 'team-b'],
    });
    assert.equal((await summaryOf(env, 'team-a')).excluded?.reason, 'Unbounded');
  });

  it('places nothing for a namespace without a boundary when bounds are required', async () => {
    const env = await start(true);
    await env.create('DeviceBoundary', boundary('team-b-all', ['team-b'], {}));
    await env.settled();
    assert.deepEqual(await placed(env), { 'gw-1': ['team-b'], 'gw-2': ['team-b'], 'gw-3': ['team-b'] });
    const a = await summaryOf(env, 'team-a');
    assert.equal(a.matched, 0);
    assert.equal(a.excluded?.reason, 'NoDeviceBoundary');
    assert.equal(
      a.excluded?.message,
      '3 devices matched by spec.deviceSelector excluded: namespace team-a has no DeviceBoundary and the hub requires one: gw-1, gw-2, gw-3',
    );
    assert.equal((await summaryOf(env, 'team-b')).excluded?.reason, 'WithinDeviceBoundary');
  });

  it('refuses a boundary with a bad namespace name or selector (422 causes)', async () => {
    const env = await start();
    await assert.rejects(
      env.create(
        'DeviceBoundary',
        boundary('bad', ['Team_A'], { matchExpressions: [{ key: 'site', operator: 'In', values: [] }] }),
      ),
      (error: unknown) => {
        assert.ok(error instanceof ApiError && error.code === 422);
        const fields = (error.toStatus().details as { causes: Array<{ field: string }> }).causes.map(
          (c) => c.field,
        );
        assert.deepEqual(fields.sort(), [
          'spec.deviceSelector.matchExpressions[0].values',
          'spec.namespaces[0]',
        ]);
        return true;
      },
    );
  });
});
