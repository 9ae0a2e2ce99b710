/**
 * `outpost hub --mqtt URL` against a real Mosquitto the test starts on a free
 * port: devices' values reach Mosquitto and the hub's table follows it,
 * commands published through the hub (or by anyone on Mosquitto) reach the
 * device, and the bridge comes back by itself after Mosquitto restarts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { DeviceCredentials } from '../../src/agent/enrollment/index.ts';
import {
  type ApiClient,
  apiClient,
  collect,
  connectDevice,
  connectMqtt,
  createConnector,
  enrollDevice,
  type HubProcess,
  type Mosquitto,
  OUTPOST_BIN,
  publish,
  removeDir,
  run,
  startHubProcess,
  startMosquitto,
  waitFor,
  waitForPlacement,
} from '../support/index.ts';

const NS = 'plant';
const CONNECTOR = 'line-1';
const ALL = '/apis/outpost.dev/v1alpha1/opcuaconnectors/telemetry';

describe('hub telemetry bridged to an external broker (Mosquitto)', () => {
  let mosquitto: Mosquitto;
  let hub: HubProcess;
  let admin: ApiClient;
  let gw: DeviceCredentials;
  let device: MqttClient;
  const dirs: string[] = [];
  const clients: MqttClient[] = [];
  const external = async (clientId: string) => {
    const client = await connectMqtt(mosquitto.url, { clientId });
    clients.push(client);
    return client;
  };
  /** The hub's latest value of `device`'s `feature`, if any. */
  const valueAtHub = async (deviceName: string, feature: string) => {
    const items = (await admin.request('GET', `${ALL}?device=${deviceName}`)).json().items as Array<{
      feature: string;
      value: unknown;
    }>;
    return items.find((item) => item.feature === feature)?.value;
  };

  before(async () => {
    mosquitto = await startMosquitto();
    hub = await startHubProcess({ args: ['--mqtt', mosquitto.url] });
    admin = apiClient(hub.kubeconfig);
    await createConnector(admin, NS, CONNECTOR);
    gw = await enrollDevice(hub, 'gw-m', dirs);
    await waitForPlacement(admin, ['gw-m'], NS, CONNECTOR);
    device = await connectDevice(hub, gw);
    clients.push(device);
    // The device's connector: acks every command it is sent.
    const commands = await collect(device, 'devices/gw-m/commands/#');
    assert.deepEqual(commands.granted, [1]);
    device.on('message', (_topic, payload) => {
      const { id } = JSON.parse(payload.toString()) as { id: string };
      void publish(device, `devices/gw-m/acks/${NS}/${CONNECTOR}`, { id, ok: true, statusCode: 'Good' });
    });
  });
  after(async () => {
    for (const client of clients) client.end(true);
    await admin?.close();
    await hub?.stop();
    await mosquitto?.cleanup();
    if (hub) await removeDir(hub.dataDir);
    for (const dir of dirs) await removeDir(dir);
  });

  it("copies a device's values to Mosquitto, and the hub's table follows Mosquitto", async () => {
    const watcher = await external('watcher');
    const seen = await collect(watcher, 'devices/#');
    await publish(device, `devices/gw-m/telemetry/${NS}/${CONNECTOR}/temperature`, { value: 30.5, seq: 1 });
    await waitFor('the value on Mosquitto', () =>
      seen.messages.some(
        (message) =>
          message.topic === `devices/gw-m/telemetry/${NS}/${CONNECTOR}/temperature` &&
          message.body.value === 30.5,
      ),
    );
    await waitFor('the value at the hub', async () => (await valueAtHub('gw-m', 'temperature')) === 30.5);
    // Values published on Mosquitto by others count too (another replica's devices, say).
    await publish(watcher, `devices/gw-other/telemetry/${NS}/${CONNECTOR}/pressure`, { value: 2.5 });
    await waitFor(
      'the other value at the hub',
      async () => (await valueAtHub('gw-other', 'pressure')) === 2.5,
    );
  });

  it('delivers commands sent through the hub, or published on Mosquitto, to the device', async () => {
    const watcher = await external('command-watcher');
    const onMosquitto = await collect(watcher, 'devices/+/commands/#');
    const atDevice = await collect(device, 'devices/gw-m/commands/#');
    const sent = await run(process.execPath, [
      OUTPOST_BIN,
      'command',
      'send',
      CONNECTOR,
      'setpoint',
      '42',
      '-n',
      NS,
      '--device',
      'gw-m',
      '--kubeconfig',
      hub.kubeconfig,
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, `gw-m acknowledged ${NS}/${CONNECTOR} setpoint = 42: Good\n`);
    assert.equal(atDevice.messages.length, 1);
    assert.equal(atDevice.messages[0]!.body.value, 42);
    await waitFor('the command seen on Mosquitto', () =>
      onMosquitto.messages.some((message) => message.body.value === 42),
    );
    await publish(watcher, `devices/gw-m/commands/${NS}/${CONNECTOR}/setpoint`, {
      id: 'from-outside',
      value: 43,
    });
    await waitFor('the outside command at the device', () =>
      atDevice.messages.some((message) => message.body.id === 'from-outside'),
    );
  });

  it('reconnects by itself when Mosquitto restarts: what the device sent meanwhile arrives', async () => {
    await mosquitto.stop();
    // The hub has noticed (a message handed to the dying connection is mqtt.js's to resend, and is
    // not what this test is about: see "Known limits" in docs/architecture.md).
    await waitFor('the hub to notice Mosquitto is gone', () =>
      hub.stderr().includes('external MQTT broker unreachable'),
    );
    // The hub acknowledges the device (its embedded broker took the message) while Mosquitto is away.
    await publish(device, `devices/gw-m/telemetry/${NS}/${CONNECTOR}/temperature`, { value: 31.5, seq: 2 });
    await mosquitto.restart();
    await waitFor(
      'the value sent meanwhile at the hub',
      async () => (await valueAtHub('gw-m', 'temperature')) === 31.5,
    );
    const watcher = await external('watcher-after-restart');
    const seen = await collect(watcher, 'devices/gw-m/telemetry/#');
    await publish(device, `devices/gw-m/telemetry/${NS}/${CONNECTOR}/temperature`, { value: 32.5, seq: 3 });
    await waitFor('a new value on the restarted Mosquitto', () =>
      seen.messages.some((message) => message.body.value === 32.5),
    );
    await waitFor('the new value at the hub', async () => (await valueAtHub('gw-m', 'temperature')) === 32.5);
  });
});
