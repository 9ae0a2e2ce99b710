/**
 * The OpcUaConnector renderer against a real ObjectService over SQLite, in
 * process, with the placement controllers and a real latest-value table:
 * what it renders, that it writes once and then nothing, that changes are
 * made in place, that credentials follow their Secret, that hand edits are
 * put back, and what the status says.
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
import type { KubeObject, OpcUaConnectorStatus } from '../../../api/index.ts';
import { parseConnectorConfig } from '../../../api/index.ts';
import { Manager } from '../../../controller/index.ts';
import { ApiError, objectKey, parse } from '../../kube-api/index.ts';
import { LatestValues } from '../../telemetry/index.ts';
import { addPlacementControllers, type PlacementControllers } from '../placement/index.ts';
import { kindOf } from '../support.ts';
import { addOpcUaRenderer, CONNECTOR_IMAGE, createOpcUaReconciler, type OpcUaRenderer } from './index.ts';

const NS = 'plant';

interface Env {
  readonly test: TestService;
  readonly renderer: OpcUaRenderer;
  readonly telemetry: LatestValues;
  create(body: KubeObject): Promise<KubeObject>;
  get(kind: string, name: string, namespace?: string): Promise<KubeObject | undefined>;
  patch(kind: string, name: string, patch: object, namespace?: string): Promise<void>;
  remove(kind: string, name: string, namespace?: string): Promise<void>;
  settled(): Promise<void>;
  stop(): Promise<void>;
}

const running: Env[] = [];
afterEach(async () => {
  for (const env of running.splice(0)) await env.stop();
});

async function start(options: { placement?: boolean; controllers?: boolean } = {}): Promise<Env> {
  const test = await startTestService({ garbageCollector: true });
  const manager = new Manager({ client: test.service });
  const telemetry = new LatestValues();
  const renderer = addOpcUaRenderer(manager, { telemetry, valueTimeRefreshMs: 60_000 });
  let placement: PlacementControllers | undefined;
  if (options.placement) placement = addPlacementControllers(manager, { mailboxWorkers: 2 });
  const abort = new AbortController();
  // Without controllers, only the renderer's informers run (its reconciler is called directly).
  const stopped =
    options.controllers === false
      ? Promise.all(Object.values(renderer.informers).map((i) => i.start(abort.signal))).then(() => {})
      : manager.start(abort.signal);
  const { service } = test;
  const def = (kind: string) =>
    kind === 'Secret' || kind === 'Namespace' ? test.kind(kind) : kindOf(service, kind);
  const env: Env = {
    test,
    renderer,
    telemetry,
    async create(body) {
      return parse(
        await service.create(def(body.kind), body.metadata.namespace, body, { fieldManager: 'test' }),
      );
    },
    async get(kind, name, namespace = NS) {
      try {
        return parse(await service.get(def(kind), kind === 'Device' ? undefined : namespace, name));
      } catch (error) {
        if (error instanceof ApiError && error.code === 404) return undefined;
        throw error;
      }
    },
    async patch(kind, name, patch, namespace = NS) {
      await service.patch(def(kind), namespace, name, 'merge', patch, { fieldManager: 'test' });
    },
    async remove(kind, name, namespace = NS) {
      await service.delete(def(kind), namespace, name, {});
    },
    async settled() {
      const idle = () => renderer.idle() && (placement?.idle() ?? true);
      await eventually(async () => {
        if (!idle()) return false;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return idle();
      }, 'controllers idle');
    },
    async stop() {
      abort.abort();
      await stopped;
      await test.close();
    },
  };
  running.push(env);
  await env.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  return env;
}

const connector = (spec: Record<string, unknown> = {}, name = 'line-1'): KubeObject => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'OpcUaConnector',
  metadata: { name, namespace: NS },
  spec: {
    server: 'opc.tcp://127.0.0.1:4840/UA/Outpost',
    subscriptions: { temperature: 'ns=2;s=Temperature', pressure: 'ns=2;s=Pressure' },
    devices: { matchLabels: { line: '1' } },
    ...spec,
  },
});

interface Resource {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    template: {
      spec: {
        hostNetwork?: boolean;
        containers: Array<{ name: string; image: string; command: string[] }>;
        volumes: unknown[];
      };
    };
  };
}

/** The config.yaml the Workload carries, read with the connector's own parser. */
function configOf(workload: KubeObject) {
  const secret = (workload.spec as { resources: Resource[] }).resources.find((r) => r.kind === 'Secret')!;
  return parseConnectorConfig(Buffer.from(secret.data!['config.yaml']!, 'base64').toString('utf8'));
}

/** Polls `check` until it gives a value (returned, never undefined) or 10 s pass. */
async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
): Promise<T> {
  return (await eventually(check, what)) as T;
}

const statusOf = (object: KubeObject | undefined) => object?.status as OpcUaConnectorStatus | undefined;
const condition = (object: KubeObject | undefined, type: string) =>
  statusOf(object)?.conditions?.find((c) => c.type === type);

describe('OpcUaConnector renderer', () => {
  it('renders a Workload with the connector StatefulSet and its config Secret, and a Placement, all owned by the connector', async () => {
    const env = await start();
    const created = await env.create(
      connector({
        credentials: { username: 'operator', password: 's3cret' },
        security: { mode: 'SignAndEncrypt', policy: 'Basic256Sha256' },
        defaults: { samplingInterval: '250ms', publishingInterval: '1s' },
      }),
    );
    const workload = await until(() => env.get('Workload', 'line-1'), 'the Workload');
    const placement = await until(() => env.get('Placement', 'line-1'), 'the Placement');
    for (const object of [workload, placement]) {
      assert.deepEqual(object.metadata.ownerReferences, [
        {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'OpcUaConnector',
          name: 'line-1',
          uid: created.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      assert.equal(object.metadata.labels?.['outpost.dev/connector'], 'line-1');
    }
    const resources = (workload.spec as { resources: Resource[] }).resources;
    assert.deepEqual(
      resources.map((r) => `${r.kind}/${r.metadata.name}`),
      ['Secret/line-1-config', 'StatefulSet/line-1'],
    );
    const pod = resources[1]!.spec!.template.spec;
    assert.equal(resources[1]!.spec!.replicas, 1);
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.containers[0]!.name, 'connector');
    assert.equal(pod.containers[0]!.image, CONNECTOR_IMAGE);
    assert.match(CONNECTOR_IMAGE, /^localhost\/outpost-opcua-connector:\d+\.\d+\.\d+/);
    assert.deepEqual(pod.containers[0]!.command, [
      'outpost',
      'opcua-connector',
      '--config',
      '/etc/outpost/connector/config.yaml',
    ]);
    assert.deepEqual(pod.volumes, [{ name: 'config', secret: { secretName: 'line-1-config' } }]);
    assert.deepEqual(configOf(workload), {
      connector: { namespace: NS, name: 'line-1' },
      server: 'opc.tcp://127.0.0.1:4840/UA/Outpost',
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      credentials: { username: 'operator', password: 's3cret' },
      samplingIntervalMs: 250,
      publishingIntervalMs: 1000,
      subscriptions: { pressure: 'ns=2;s=Pressure', temperature: 'ns=2;s=Temperature' },
    });
    assert.deepEqual(placement.spec, {
      workloadSelector: { names: ['line-1'] },
      deviceSelector: { matchLabels: { line: '1' } },
    });
    const status = await until(async () => {
      const live = await env.get('OpcUaConnector', 'line-1');
      return condition(live, 'Rendered') ? statusOf(live) : undefined;
    }, 'the status');
    assert.equal(status.workload, 'line-1');
    assert.equal(status.placement, 'line-1');
    assert.match(status.configHash ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(status.observedGeneration, 1);
    assert.equal(condition(await env.get('OpcUaConnector', 'line-1'), 'Rendered')?.status, 'True');
  });

  it('writes each object once, and nothing on a second reconcile or a resync', async () => {
    const env = await start();
    const writes = await recordWrites(env.test.store);
    await env.create(connector());
    await until(() => env.get('Placement', 'line-1'), 'the Placement');
    await env.settled();
    const prefix = (kind: string) => objectKey(kindOf(env.test.service, kind), NS, 'line-1');
    assert.equal(writes.writes(prefix('Workload')).length, 1, 'the Workload is written once');
    assert.equal(writes.writes(prefix('Placement')).length, 1, 'the Placement is written once');
    assert.equal(writes.writes(prefix('OpcUaConnector')).length, 2, 'created, then its status written once');
    const before = writes.events.length;
    // A resync: every cached connector reconciled again.
    for (const object of env.renderer.informers.connectors.list())
      env.renderer.controller.enqueue(`${NS}/${object.metadata.name}`);
    await env.settled();
    assert.equal(writes.events.length, before, 'a resync writes nothing');
    writes.stop();
  });

  it('a reconcile run twice in a row writes once, whether or not the cache shows its writes yet', async () => {
    const env = await start({ controllers: false });
    const reconciler = createOpcUaReconciler({
      service: env.test.service,
      informers: env.renderer.informers,
    });
    const context = {
      logger: pino({ level: 'silent' }),
      reconcileId: 'x',
      signal: new AbortController().signal,
    };
    const writes = await recordWrites(env.test.store);
    await env.create(connector());
    await until(() => env.renderer.informers.connectors.get(NS, 'line-1'), 'the cache to see the connector');
    await reconciler.reconcile(`${NS}/line-1`, context);
    // Right after: the cache may or may not show the writes yet; either way nothing is written again.
    const second = await reconciler.reconcile(`${NS}/line-1`, context);
    assert.ok(second === undefined || second.requeueAfter === 20, 'done, or waiting for the cache');
    await until(
      async () => (await reconciler.reconcile(`${NS}/line-1`, context)) === undefined,
      'a run that finds the cache current',
    );
    const count = (kind: string) =>
      writes.writes(objectKey(kindOf(env.test.service, kind), NS, 'line-1')).length;
    assert.deepEqual(
      [count('Workload'), count('Placement'), count('OpcUaConnector')],
      [1, 1, 2],
      'Workload and Placement created once; the connector created, then its status written once',
    );
    writes.stop();
  });

  it('updates the Workload in place when subscriptions change: same uid, generation + 1, Placement untouched', async () => {
    const env = await start();
    await env.create(connector());
    const first = await until(() => env.get('Workload', 'line-1'), 'the Workload');
    const placement = await until(() => env.get('Placement', 'line-1'), 'the Placement');
    await env.settled();
    const hash = statusOf(await env.get('OpcUaConnector', 'line-1'))?.configHash;
    await env.patch('OpcUaConnector', 'line-1', {
      spec: { subscriptions: { pressure: null, level: 'ns=2;s=Level' } },
    });
    const second = await until(async () => {
      const live = await env.get('Workload', 'line-1');
      return live && configOf(live).subscriptions.level ? live : undefined;
    }, 'the Workload to follow');
    assert.equal(second.metadata.uid, first.metadata.uid);
    assert.equal(second.metadata.generation, first.metadata.generation! + 1);
    assert.deepEqual(configOf(second).subscriptions, {
      level: 'ns=2;s=Level',
      temperature: 'ns=2;s=Temperature',
    });
    await env.settled();
    const after = await env.get('Placement', 'line-1');
    assert.equal(
      after?.metadata.resourceVersion,
      placement.metadata.resourceVersion,
      'the Placement is not rewritten',
    );
    const status = statusOf(await env.get('OpcUaConnector', 'line-1'));
    assert.notEqual(status?.configHash, hash);
    assert.equal(status?.observedGeneration, 2);
  });

  it('takes credentials from a Secret, waits for it, and re-renders when it changes', async () => {
    const env = await start();
    await env.create(connector({ credentials: { secretRef: { name: 'plc-login', passwordKey: 'pw' } } }));
    const waiting = await until(async () => {
      const live = await env.get('OpcUaConnector', 'line-1');
      return condition(live, 'Rendered')?.status === 'False' ? condition(live, 'Rendered') : undefined;
    }, 'Rendered=False');
    assert.equal(waiting.reason, 'SecretNotFound');
    assert.match(waiting.message ?? '', /plant\/plc-login/);
    assert.equal(await env.get('Workload', 'line-1'), undefined, 'nothing rendered without the credentials');
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    await env.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'plc-login', namespace: NS },
      data: { username: b64('operator'), pw: b64('first') },
    });
    const first = await until(() => env.get('Workload', 'line-1'), 'the Workload');
    assert.deepEqual(configOf(first).credentials, { username: 'operator', password: 'first' });
    await env.patch('Secret', 'plc-login', { data: { pw: b64('second') } });
    const second = await until(async () => {
      const live = await env.get('Workload', 'line-1');
      return live && configOf(live).credentials?.password === 'second' ? live : undefined;
    }, 'the new password in the config');
    assert.equal(second.metadata.uid, first.metadata.uid);
    await env.patch('Secret', 'plc-login', { data: { pw: null } });
    const missingKey = await until(async () => {
      const c = condition(await env.get('OpcUaConnector', 'line-1'), 'Rendered');
      return c?.reason === 'SecretKeyNotFound' ? c : undefined;
    }, 'SecretKeyNotFound');
    assert.match(missingKey.message ?? '', /"pw"/);
  });

  it('puts hand edits back and re-creates a deleted Workload', async () => {
    const env = await start();
    await env.create(connector());
    const workload = await until(() => env.get('Workload', 'line-1'), 'the Workload');
    await until(() => env.get('Placement', 'line-1'), 'the Placement');
    await env.settled();
    await env.patch('Workload', 'line-1', {
      spec: { resources: [(workload.spec as { resources: Resource[] }).resources[1]] },
    });
    await env.patch('Placement', 'line-1', { spec: { deviceSelector: { matchLabels: { line: 'other' } } } });
    await until(async () => {
      const w = await env.get('Workload', 'line-1');
      const p = await env.get('Placement', 'line-1');
      return (
        (w?.spec as { resources: Resource[] } | undefined)?.resources.length === 2 &&
        (p?.spec as { deviceSelector: { matchLabels?: Record<string, string> } } | undefined)?.deviceSelector
          .matchLabels?.line === '1'
      );
    }, 'the edits to be put back');
    await env.remove('Workload', 'line-1');
    const again = await until(async () => {
      const live = await env.get('Workload', 'line-1');
      return live && live.metadata.uid !== workload.metadata.uid ? live : undefined;
    }, 'the Workload re-created');
    assert.equal(again.metadata.ownerReferences?.[0]?.kind, 'OpcUaConnector');
  });

  it('does not take over a Workload of the same name it does not control', async () => {
    const env = await start();
    await env.create({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'line-1', namespace: NS },
      spec: { resources: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mine' } }] },
    });
    await env.create(connector());
    const rendered = await until(
      async () => condition(await env.get('OpcUaConnector', 'line-1'), 'Rendered'),
      'Rendered',
    );
    assert.equal(rendered.status, 'False');
    assert.equal(rendered.reason, 'Conflict');
    const workload = await env.get('Workload', 'line-1');
    assert.equal(workload?.metadata.ownerReferences, undefined);
    assert.equal(await env.get('Placement', 'line-1'), undefined);
    await env.remove('Workload', 'line-1');
    await until(
      async () => (await env.get('Workload', 'line-1'))?.metadata.ownerReferences?.length === 1,
      'rendered once the name is free',
    );
  });

  it('sums up devices from the Placement and the telemetry table: matched, connected, last value time', async () => {
    const env = await start({ placement: true });
    for (const [name, line] of [
      ['gw-1', '1'],
      ['gw-2', '1'],
      ['gw-3', '2'],
      ['gw-4', '1'],
    ] as const) {
      await env.create({
        apiVersion: 'outpost.dev/v1alpha1',
        kind: 'Device',
        metadata: { name, labels: { line } },
      });
    }
    await env.create(connector());
    await until(
      async () => statusOf(await env.get('OpcUaConnector', 'line-1'))?.devices?.matched === 3,
      'three matched',
    );
    let status = statusOf(await env.get('OpcUaConnector', 'line-1'))!;
    assert.equal(status.devices?.connected, 0);
    assert.deepEqual(
      status.connections?.map((c) => [c.device, c.connected, c.error]),
      [
        ['gw-1', false, 'no status reported yet'],
        ['gw-2', false, 'no status reported yet'],
        ['gw-4', false, 'no status reported yet'],
      ],
    );
    const at = new Date().toISOString();
    env.telemetry.accept(`devices/gw-1/status/${NS}/line-1`, JSON.stringify({ connected: true, at }));
    env.telemetry.accept(
      `devices/gw-1/telemetry/${NS}/line-1/temperature`,
      JSON.stringify({ value: 21.5, seq: 1 }),
    );
    env.telemetry.accept(
      `devices/gw-2/status/${NS}/line-1`,
      JSON.stringify({ connected: false, error: 'BadTcpEndpointUrlInvalid', at }),
    );
    // Values but no status message (a hub restarted since the last one): connected.
    env.telemetry.accept(
      `devices/gw-4/telemetry/${NS}/line-1/pressure`,
      JSON.stringify({ value: 1.2, seq: 9 }),
    );
    // A device the connector does not select: not counted.
    env.telemetry.accept(`devices/gw-3/status/${NS}/line-1`, JSON.stringify({ connected: true, at }));
    status = await until(async () => {
      const s = statusOf(await env.get('OpcUaConnector', 'line-1'));
      return s?.devices?.connected === 2 && s.connections?.[0]?.error !== 'no status reported yet'
        ? s
        : undefined;
    }, 'two connected, one not');
    assert.deepEqual(
      status.connections?.map((c) => [c.device, c.connected, c.error, c.lastValueTime !== undefined]),
      [
        ['gw-2', false, 'BadTcpEndpointUrlInvalid', false],
        ['gw-1', true, undefined, true],
        ['gw-4', true, undefined, true],
      ],
    );
    assert.equal(condition(await env.get('OpcUaConnector', 'line-1'), 'Ready')?.status, 'False');
    // Values keep arriving: the status does not follow each one.
    await env.settled();
    const version = (await env.get('OpcUaConnector', 'line-1'))?.metadata.resourceVersion;
    for (let seq = 2; seq < 50; seq++)
      env.telemetry.accept(
        `devices/gw-1/telemetry/${NS}/line-1/temperature`,
        JSON.stringify({ value: seq, seq }),
      );
    env.renderer.controller.enqueue(`${NS}/line-1`);
    await env.settled();
    assert.equal((await env.get('OpcUaConnector', 'line-1'))?.metadata.resourceVersion, version);
  });
});
