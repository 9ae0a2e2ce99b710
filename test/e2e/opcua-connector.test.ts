import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { ConnectorConfig } from '../../src/api/index.ts';
import {
  type MqttMessage,
  observe,
  outpostArgs,
  type StartedProcess,
  startBroker,
  startConnector,
  startPlcSim,
  waitFor,
  waitForMessage,
  writeConfig,
} from '../support/index.ts';

// The connector program on its own (no hub, no agent): simulator, aedes broker and connector processes.

const run = promisify(execFile);

/** Reads a node's value with a plain node-opcua client (no Outpost code involved). */
async function readValue(endpointUrl: string, nodeId: string, pkiDir: string): Promise<unknown> {
  process.env.NODEOPCUA_LOG_LEVEL ??= '3'; // node-opcua's load-time warnings go to stdout
  const { OPCUAClient, OPCUACertificateManager, AttributeIds } = await import('node-opcua');
  const client = OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 3, initialDelay: 200 },
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: pkiDir,
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
  await client.connect(endpointUrl);
  try {
    const session = await client.createSession();
    const dataValue = await session.read({ nodeId, attributeId: AttributeIds.Value });
    await session.close();
    return dataValue.value.value;
  } finally {
    await client.disconnect();
  }
}

const feature = (topic: string) => topic.split('/').at(-1);
const seqs = (messages: MqttMessage[], name: string) =>
  messages
    .filter((m) => m.topic.startsWith('telemetry/') && feature(m.topic) === name)
    .map((m) => m.body.seq as number);

describe('opcua-connector with the PLC simulator', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-opcua-e2e-'));
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let sim: Awaited<ReturnType<typeof startPlcSim>>;
  let connector: StartedProcess;
  let observer: Awaited<ReturnType<typeof observe>>;
  let endpointUrl: string;
  let port: number;

  before(async () => {
    broker = await startBroker();
    observer = await observe(broker.url, ['telemetry/#', 'status/#', 'acks/#']);
    sim = await startPlcSim(['--port', '0', '--interval', '100ms', '--pki-dir', join(dir, 'sim-pki')]);
    endpointUrl = sim.ready;
    port = Number(new URL(endpointUrl.replace('opc.tcp:', 'http:')).port);
    const config: ConnectorConfig = {
      connector: { namespace: 'plant', name: 'line-1' },
      server: endpointUrl,
      securityMode: 'None',
      securityPolicy: 'None',
      samplingIntervalMs: 100,
      publishingIntervalMs: 200,
      subscriptions: {
        temperature: 'ns=2;s=Temperature',
        pressure: 'ns=2;s=Pressure',
        temperatureSetpoint: 'ns=2;s=TemperatureSetpoint',
      },
    };
    connector = await startConnector(
      writeConfig(dir, 'config.yaml', config),
      broker.url,
      join(dir, 'connector-pki'),
    );
  });

  after(async () => {
    await connector?.stop();
    await sim?.stop();
    await observer?.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('publishes Temperature and Pressure values with an increasing seq and a connected status', async () => {
    await waitFor(
      'ten values of each feature',
      () =>
        seqs(observer.messages, 'temperature').length >= 10 &&
        seqs(observer.messages, 'pressure').length >= 10,
      60_000,
    );
    const all = observer.messages
      .filter((m) => m.topic.startsWith('telemetry/plant/line-1/'))
      .map((m) => m.body.seq as number);
    assert.deepEqual(
      all,
      [...all].sort((a, b) => a - b),
      'seq increases',
    );
    assert.equal(new Set(all).size, all.length, 'seq never repeats');
    const value = observer.messages.find((m) => m.topic === 'telemetry/plant/line-1/temperature')!.body;
    assert.equal(typeof value.value, 'number');
    assert.ok(!Number.isNaN(Date.parse(value.sourceTimestamp as string)), 'sourceTimestamp is a date');
    const status = observer.messages.filter((m) => m.topic === 'status/plant/line-1').at(-1)!.body;
    assert.equal(status.connected, true);
    assert.equal(status.server, endpointUrl);
  });

  test('a command writes the set point on the simulator and is acked Good', async () => {
    const id = randomUUID();
    await observer.client.publishAsync(
      'commands/plant/line-1/temperatureSetpoint',
      JSON.stringify({ id, value: 55 }),
      { qos: 1 },
    );
    const ack = await waitForMessage(
      observer.messages,
      'the ack',
      (m) => m.topic === 'acks/plant/line-1' && m.body.id === id,
    );
    assert.deepEqual(ack.body, { id, ok: true, statusCode: 'Good' });
    assert.equal(await readValue(endpointUrl, 'ns=2;s=TemperatureSetpoint', join(dir, 'reader-pki')), 55);
    // The new set point comes back as telemetry.
    await waitForMessage(
      observer.messages,
      'the new set point as telemetry',
      (m) => m.topic === 'telemetry/plant/line-1/temperatureSetpoint' && m.body.value === 55,
    );
  });

  test('a command of the wrong type or for an unknown feature is acked not ok with the status code', async () => {
    const wrongType = randomUUID();
    await observer.client.publishAsync(
      'commands/plant/line-1/temperatureSetpoint',
      JSON.stringify({ id: wrongType, value: 'hot' }),
      { qos: 1 },
    );
    const unknown = randomUUID();
    await observer.client.publishAsync(
      'commands/plant/line-1/flux',
      JSON.stringify({ id: unknown, value: 1 }),
      { qos: 1 },
    );
    const typeAck = await waitForMessage(
      observer.messages,
      'the wrong-type ack',
      (m) => m.body.id === wrongType,
    );
    assert.equal(typeAck.body.ok, false);
    assert.equal(typeAck.body.statusCode, 'BadTypeMismatch');
    assert.match(typeAck.body.error as string, /number.*Double/);
    const unknownAck = await waitForMessage(
      observer.messages,
      'the unknown-feature ack',
      (m) => m.body.id === unknown,
    );
    assert.equal(unknownAck.body.ok, false);
    assert.equal(unknownAck.body.statusCode, 'BadNodeIdUnknown');
    assert.match(unknownAck.body.error as string, /unknown feature "flux"/);
  });

  test('values resume after the simulator is killed and started again on the same port', async () => {
    await sim.stop('SIGKILL');
    const killedAt = Date.now();
    const from = observer.messages.length;
    await waitForMessage(
      observer.messages,
      'a disconnected status',
      (m) => m.topic === 'status/plant/line-1' && m.body.connected === false,
      from,
    );
    sim = await startPlcSim([
      '--port',
      String(port),
      '--interval',
      '100ms',
      '--pki-dir',
      join(dir, 'sim-pki'),
    ]);
    await waitForMessage(
      observer.messages,
      'a connected status again',
      (m) => m.topic === 'status/plant/line-1' && m.body.connected === true,
      from,
      90_000,
    );
    const resumed = await waitForMessage(
      observer.messages,
      'a temperature from the new simulator',
      (m) =>
        m.topic === 'telemetry/plant/line-1/temperature' &&
        Date.parse(m.body.sourceTimestamp as string) > killedAt,
      from,
      90_000,
    );
    assert.ok(
      (resumed.body.seq as number) > Math.max(...seqs(observer.messages.slice(0, from), 'temperature')),
    );
  });
});

describe('opcua-connector security and configuration', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-opcua-sec-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('connects with SignAndEncrypt (Basic256Sha256) and a user name', async () => {
    const broker = await startBroker();
    const observer = await observe(broker.url, ['telemetry/#', 'status/#']);
    const sim = await startPlcSim([
      '--port',
      '0',
      '--interval',
      '200ms',
      '--user',
      'operator:s3cret',
      '--pki-dir',
      join(dir, 'sim'),
    ]);
    let connector: StartedProcess | undefined;
    try {
      const file = writeConfig(dir, 'secure.yaml', {
        connector: { namespace: 'plant', name: 'secure' },
        server: sim.ready,
        securityMode: 'SignAndEncrypt',
        securityPolicy: 'Basic256Sha256',
        credentials: { username: 'operator', password: 's3cret' },
        samplingIntervalMs: 200,
        publishingIntervalMs: 200,
        subscriptions: { temperature: 'ns=2;s=Temperature' },
      });
      connector = await startConnector(file, broker.url, join(dir, 'connector'));
      await waitForMessage(
        observer.messages,
        'a temperature over SignAndEncrypt',
        (m) => m.topic === 'telemetry/plant/secure/temperature',
      );
    } finally {
      await connector?.stop();
      await sim.stop();
      await observer.close();
      await broker.close();
    }
  });

  test('a bad config file fails with a message naming the field', async () => {
    const file = writeConfig(dir, 'bad.yaml', {
      connector: { namespace: 'plant', name: 'bad' },
      server: 'http://plc:4840',
      subscriptions: { temperature: 'Temperature' },
    } as ConnectorConfig);
    const failure = await run(process.execPath, outpostArgs('opcua-connector', '--config', file), {
      env: { ...process.env, OUTPOST_MQTT_URL: 'mqtt://127.0.0.1:1' },
    }).then(
      () => assert.fail('the connector accepted a bad config'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failure.code, 1);
    assert.match(failure.stderr, /bad\.yaml: server: must be an opc\.tcp:\/\/ URL/);
    assert.match(failure.stderr, /subscriptions\.temperature: must be an OPC UA node id/);
  });
});
