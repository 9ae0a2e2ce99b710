import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Aedes } from 'aedes';
import { embeddedBus, topicMatches } from './bus.ts';
import { CommandDispatcher, CommandTimeoutError } from './commands.ts';
import { LatestValues } from './latest-values.ts';
import {
  devicePublishAllowed,
  deviceReceiveAllowed,
  deviceSubscribeAllowed,
  parseUpwardTopic,
} from './topics.ts';

describe('device topic rules', () => {
  it('lets a device publish only its own telemetry, status and acks', () => {
    for (const topic of [
      'devices/gw-1/telemetry/ns/c/t',
      'devices/gw-1/status/ns/c',
      'devices/gw-1/acks/ns/c',
    ])
      assert.equal(devicePublishAllowed('gw-1', topic), true, topic);
    for (const topic of [
      'devices/gw-2/telemetry/ns/c/t',
      'devices/gw-1/commands/ns/c/t',
      'devices/gw-1',
      'devices/gw-1/other/x',
      'devices/gw-10/telemetry/ns/c/t',
      'elsewhere/gw-1/telemetry/ns/c/t',
    ])
      assert.equal(devicePublishAllowed('gw-1', topic), false, topic);
  });

  it('lets a device subscribe only below its own commands, wildcards included only there', () => {
    for (const filter of ['devices/gw-1/commands/#', 'devices/gw-1/commands/+/+/+', 'devices/gw-1/commands'])
      assert.equal(deviceSubscribeAllowed('gw-1', filter), true, filter);
    for (const filter of ['#', 'devices/#', 'devices/+/commands/#', 'devices/gw-1/#', 'devices/gw-1/+/#'])
      assert.equal(deviceSubscribeAllowed('gw-1', filter), false, filter);
    assert.equal(deviceReceiveAllowed('gw-1', 'devices/gw-1/commands/ns/c/f'), true);
    assert.equal(deviceReceiveAllowed('gw-1', 'devices/gw-10/commands/ns/c/f'), false);
  });

  it('parses the topics devices send up and ignores malformed ones', () => {
    assert.deepEqual(parseUpwardTopic('devices/d/telemetry/ns/c/a/b'), {
      type: 'telemetry',
      device: 'd',
      namespace: 'ns',
      connector: 'c',
      feature: 'a/b',
    });
    assert.deepEqual(parseUpwardTopic('devices/d/acks/ns/c'), {
      type: 'acks',
      device: 'd',
      namespace: 'ns',
      connector: 'c',
    });
    for (const topic of [
      'devices/d/telemetry/ns/c',
      'devices/d/status/ns/c/x',
      'devices//status/ns/c',
      'x/d/status/ns/c',
    ])
      assert.equal(parseUpwardTopic(topic), undefined, topic);
  });

  it('matches MQTT filters as brokers do', () => {
    assert.equal(topicMatches('devices/+/acks/#', 'devices/d/acks/ns/c'), true);
    assert.equal(topicMatches('devices/+/acks/#', 'devices/d/acks'), true);
    assert.equal(topicMatches('devices/+/acks/#', 'devices/d/status/ns/c'), false);
    assert.equal(topicMatches('a/+', 'a/b/c'), false);
    assert.equal(topicMatches('#', '$SYS/x'), false);
  });
});

describe('the latest-value table', () => {
  const at = new Date('2026-11-23T12:00:00.000Z');

  it('keeps the latest value per feature, and per device and connector the status and last value time', () => {
    const table = new LatestValues({ now: () => at });
    const changes: string[] = [];
    table.onConnectorChange((namespace, name) => changes.push(`${namespace}/${name}`));
    table.accept('devices/d1/telemetry/ns/c/t', JSON.stringify({ value: 1, sourceTimestamp: 'S', seq: 1 }));
    table.accept('devices/d1/telemetry/ns/c/t', JSON.stringify({ value: 2, seq: 2 }));
    table.accept('devices/d2/status/ns/c', JSON.stringify({ connected: false, error: 'refused', at: 'A' }));
    assert.deepEqual(table.values(), [
      {
        device: 'd1',
        namespace: 'ns',
        connector: 'c',
        feature: 't',
        value: 2,
        receivedAt: at.toISOString(),
        seq: 2,
      },
    ]);
    assert.deepEqual(table.connectorDevices('ns', 'c'), [
      { device: 'd1', namespace: 'ns', connector: 'c', lastValueAt: at.toISOString() },
      {
        device: 'd2',
        namespace: 'ns',
        connector: 'c',
        status: { connected: false, error: 'refused', at: 'A' },
        statusReceivedAt: at.toISOString(),
      },
    ]);
    // The first value of d1 and d2's status: not every value.
    assert.deepEqual(changes, ['ns/c', 'ns/c']);
    assert.deepEqual(table.values({ device: 'd2' }), []);
  });

  it('ignores messages without the contract shape and bounds the features a device may fill', () => {
    const table = new LatestValues({ maxFeaturesPerDevice: 2 });
    assert.equal(table.accept('devices/d/telemetry/ns/c/t', 'not json'), false);
    assert.equal(table.accept('devices/d/telemetry/ns/c/t', '{"novalue":1}'), false);
    assert.equal(table.accept('devices/d/status/ns/c', '{"connected":"yes"}'), false);
    for (const feature of ['a', 'b', 'c']) table.accept(`devices/d/telemetry/ns/c/${feature}`, '{"value":1}');
    assert.deepEqual(
      table.values().map((value) => value.feature),
      ['a', 'b'],
    );
    assert.equal(table.refusedValues, 1);
    assert.equal(
      table.accept('devices/d/telemetry/ns/c/a', '{"value":5}'),
      true,
      'known features still update',
    );
  });
});

describe('commands', () => {
  it('resolves with the ack of the device the command went to, and times out otherwise', async () => {
    const aedes = await Aedes.createBroker();
    try {
      const bus = embeddedBus(aedes);
      const table = new LatestValues();
      await bus.subscribe('devices/+/acks/#', (topic, payload) => table.accept(topic, payload));
      const commands = new CommandDispatcher(bus, table, { timeoutMs: 300 });
      // The device's connector: acks under its own name; another device tries to answer too.
      await bus.subscribe('devices/+/commands/#', (topic, payload) => {
        const { id } = JSON.parse(payload.toString()) as { id: string };
        const device = topic.split('/')[1]!;
        void bus.publish(
          'devices/intruder/acks/ns/c',
          JSON.stringify({ id, ok: true, statusCode: 'Forged' }),
          { qos: 1 },
        );
        if (device === 'd1')
          void bus.publish(
            'devices/d1/acks/ns/c',
            JSON.stringify({ id, ok: false, statusCode: 'BadTypeMismatch' }),
            {
              qos: 1,
            },
          );
      });
      const ack = await commands.send({
        device: 'd1',
        namespace: 'ns',
        connector: 'c',
        feature: 'f',
        value: 'x',
      });
      assert.deepEqual(
        { ok: ack.ok, statusCode: ack.statusCode, device: ack.device },
        {
          ok: false,
          statusCode: 'BadTypeMismatch',
          device: 'd1',
        },
      );
      await assert.rejects(
        commands.send({ device: 'd2', namespace: 'ns', connector: 'c', feature: 'f', value: 1 }),
        CommandTimeoutError,
      );
      assert.equal(commands.pending, 0);
    } finally {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
  });
});
