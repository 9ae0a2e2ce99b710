/**
 * The OpcUaConnector renderer's Events, in process (real ObjectService over
 * SQLite, a real latest-value table, the hub's Event recorder): a connector
 * that cannot be rendered, a connection error a device's connector reports,
 * and its recovery, each told once on the OpcUaConnector.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { eventually, startTestService, type TestService } from '../../../../test/support/in-process/index.ts';
import { eventKind, type KubeObject } from '../../../api/index.ts';
import { Manager } from '../../../controller/index.ts';
import { EventRecorder } from '../../events/index.ts';
import { parse } from '../../kube-api/index.ts';
import { LatestValues } from '../../telemetry/index.ts';
import { kindOf } from '../support.ts';
import { addOpcUaRenderer, type OpcUaRenderer } from './index.ts';

const NS = 'plant';

interface Env {
  readonly test: TestService;
  readonly renderer: OpcUaRenderer;
  readonly telemetry: LatestValues;
  readonly recorder: EventRecorder;
  create(body: KubeObject): Promise<void>;
  /** The Events about OpcUaConnectors, oldest first, as `type reason: message`. */
  told(): Promise<string[]>;
  settled(): Promise<void>;
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function start(): Promise<Env> {
  const test = await startTestService();
  const manager = new Manager({ client: test.service });
  const telemetry = new LatestValues();
  const recorder = new EventRecorder({ service: test.service, instance: 'test-hub' });
  const renderer = addOpcUaRenderer(manager, {
    telemetry,
    valueTimeRefreshMs: 60_000,
    events: recorder.sink('outpost-opcua-renderer'),
  });
  const abort = new AbortController();
  const stopped = manager.start(abort.signal);
  stops.push(async () => {
    abort.abort();
    await stopped;
    await recorder.close();
    await test.close();
  });
  const def = (kind: string) =>
    kind === 'Secret' || kind === 'Namespace' ? test.kind(kind) : kindOf(test.service, kind);
  const env: Env = {
    test,
    renderer,
    telemetry,
    recorder,
    async create(body) {
      await test.service.create(def(body.kind), body.metadata.namespace, body, { fieldManager: 'test' });
    },
    async told() {
      const { items } = await test.service.list(eventKind, undefined, {});
      return items
        .map(parse)
        .filter((e) => (e.involvedObject as { kind: string }).kind === 'OpcUaConnector')
        .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))
        .map((e) => `${e.type} ${e.reason}: ${e.message}`);
    },
    async settled() {
      await eventually(async () => {
        await recorder.flush();
        if (!renderer.idle()) return false;
        await new Promise((resolve) => setTimeout(resolve, 30));
        await recorder.flush();
        return renderer.idle();
      }, 'renderer idle and Events written');
    },
  };
  await env.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  return env;
}

const connector = (spec: Record<string, unknown> = {}): KubeObject => ({
  apiVersion: 'outpost.dev/v1alpha1',
  kind: 'OpcUaConnector',
  metadata: { name: 'line-1', namespace: NS },
  spec: {
    server: 'opc.tcp://127.0.0.1:4840/UA/Outpost',
    subscriptions: { temperature: 'ns=2;s=Temperature' },
    devices: { matchLabels: { line: '1' } },
    ...spec,
  },
});

describe('OpcUaConnector Events', () => {
  it('tells a connector that cannot be rendered (its Secret missing) once', async () => {
    const env = await start();
    await env.create(connector({ credentials: { secretRef: { name: 'plc-login' } } }));
    await env.settled();
    env.renderer.controller.enqueue(`${NS}/line-1`);
    await env.settled();
    const told = await env.told();
    assert.equal(told.length, 1, told.join('\n'));
    assert.match(told[0]!, /^Warning SecretNotFound: .*plc-login/);
  });

  it('tells a device connection error once per error, and the connection back', async () => {
    const env = await start();
    await env.create({
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Device',
      metadata: { name: 'gw-1', labels: { line: '1' } },
    });
    await env.create(connector());
    await env.settled();
    const status = (body: object) =>
      env.telemetry.accept(`devices/gw-1/status/${NS}/line-1`, JSON.stringify(body));
    status({ connected: false, error: 'BadTimeout: no answer from the server' });
    await env.settled();
    // The connector says it again (it retries): nothing new to tell.
    status({ connected: false, error: 'BadTimeout: no answer from the server' });
    await env.settled();
    status({ connected: true });
    await env.settled();
    assert.deepEqual(await env.told(), [
      'Warning ConnectionFailed: device gw-1: cannot connect to opc.tcp://127.0.0.1:4840/UA/Outpost: BadTimeout: no answer from the server',
      'Normal Connected: device gw-1: connected to opc.tcp://127.0.0.1:4840/UA/Outpost again',
    ]);
  });
});
