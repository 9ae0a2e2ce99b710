/**
 * Telemetry and commands only for connectors placed on a device (issue 14,
 * item 4), on a hub process with mqtt.js devices: two namespaces each run a
 * connector `line-1`, team-a's on gw-a, team-b's on gw-b. gw-b publishing
 * values, status and acks under team-a's connector is acknowledged and
 * dropped (nobody sees it, the hub's table does not hold it, it is logged
 * once), it never becomes that connector's command target, and commands
 * without `--device` go to the device the connector is placed on.
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
  kubeconfigCredentials,
  kubectl,
  mqttUrlOf,
  OUTPOST_BIN,
  publish,
  type Received,
  removeDir,
  run,
  startHubProcess,
  waitFor,
  waitForPlacement,
} from '../support/index.ts';

const V1 = '/apis/outpost.dev/v1alpha1';
const CONNECTOR = 'line-1';
const up = (device: string, kind: 'telemetry' | 'status' | 'acks', namespace: string, feature?: string) =>
  `devices/${device}/${kind}/${namespace}/${CONNECTOR}${feature ? `/${feature}` : ''}`;

describe('telemetry and commands only for connectors placed on the device', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let gwA: DeviceCredentials;
  let gwB: DeviceCredentials;
  let observer: MqttClient;
  let seen: Received;
  const dirs: string[] = [];
  const clients: MqttClient[] = [];
  const track = (client: MqttClient) => {
    clients.push(client);
    return client;
  };
  const outpost = (args: string[]) =>
    run(process.execPath, [OUTPOST_BIN, ...args, '--kubeconfig', hub.kubeconfig], { timeoutMs: 60_000 });
  const latest = async (namespace: string) =>
    (
      await admin.request('GET', `${V1}/namespaces/${namespace}/opcuaconnectors/${CONNECTOR}/telemetry`)
    ).json().items as Array<{ device: string; feature: string; value: unknown }>;
  /** A device's connector: acknowledges every command with Good, recording what it got. */
  const runConnector = async (device: DeviceCredentials, namespace: string, clientId: string) => {
    const client = track(await connectDevice(hub, device, { clientId }));
    const commands = await collect(client, `devices/${device.name}/commands/#`);
    client.on('message', (_topic, payload) => {
      const { id } = JSON.parse(payload.toString()) as { id: string };
      void publish(client, up(device.name, 'acks', namespace), { id, ok: true, statusCode: 'Good' });
    });
    return commands;
  };

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    await createConnector(admin, 'team-a', CONNECTOR, { team: 'a' });
    await createConnector(admin, 'team-b', CONNECTOR, { team: 'b' });
    [gwA, gwB] = await Promise.all([
      enrollDevice(hub, 'gw-a', dirs, { team: 'a' }),
      enrollDevice(hub, 'gw-b', dirs, { team: 'b' }),
    ]);
    await waitForPlacement(admin, ['gw-a'], 'team-a', CONNECTOR);
    await waitForPlacement(admin, ['gw-b'], 'team-b', CONNECTOR);
    // system:masters sees everything the broker passes on: the witness that nothing leaked.
    const adminCert = await kubeconfigCredentials(hub.kubeconfig);
    observer = track(await connectMqtt(mqttUrlOf(hub), { ...adminCert, clientId: 'observer' }));
    seen = await collect(observer, '#');
  });
  after(async () => {
    for (const client of clients) client.end(true);
    await admin?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
    for (const dir of dirs) await removeDir(dir);
  });

  it("drops what a device sends up for another namespace's connector, logs it once, and nothing of it shows", async () => {
    const intruder = track(await connectDevice(hub, gwB, { clientId: 'gw-b-intruder' }));
    const forged = up('gw-b', 'telemetry', 'team-a', 'temperature');
    // Each is acknowledged (the device's outbox moves on) and dropped; the connection stays.
    for (let i = 0; i < 5; i++) await publish(intruder, forged, { value: -999, seq: i });
    await publish(
      intruder,
      up('gw-b', 'status', 'team-a'),
      { connected: true, at: new Date().toISOString() },
      true,
    );
    await publish(intruder, up('gw-b', 'acks', 'team-a'), { id: 'forged', ok: true, statusCode: 'Good' });
    await publish(intruder, `devices/gw-b/telemetry/team-a/nothing-here/x`, { value: 1 });
    assert.equal(intruder.connected, true);
    // Its own connector's value, sent after them, is accepted: anything passed on would have come before it.
    await publish(intruder, up('gw-b', 'telemetry', 'team-b', 'temperature'), { value: 5 });
    await waitFor('the own value at the observer', () =>
      seen.messages.some((message) => message.topic === up('gw-b', 'telemetry', 'team-b', 'temperature')),
    );
    assert.deepEqual(
      seen.messages.map((message) => message.topic),
      [up('gw-b', 'telemetry', 'team-b', 'temperature')],
      'nothing sent for team-a reached anyone',
    );
    assert.deepEqual(await latest('team-a'), [], "team-a's connector shows no value of gw-b");
    assert.deepEqual(
      (await latest('team-b')).map((item) => `${item.device} ${item.value}`),
      ['gw-b 5'],
    );
    const get = await outpost(['telemetry', 'get', '-A']);
    assert.equal(get.code, 0, get.stderr);
    assert.doesNotMatch(get.stdout, /team-a/);
    // Nor was the status retained for later subscribers.
    const late = track(
      await connectMqtt(mqttUrlOf(hub), {
        ...(await kubeconfigCredentials(hub.kubeconfig)),
        clientId: 'late',
      }),
    );
    const retained = await collect(late, 'devices/gw-b/status/#');
    await publish(intruder, up('gw-b', 'status', 'team-b'), { connected: true }, true);
    await waitFor('the own status at the late subscriber', () => retained.messages.length > 0);
    assert.deepEqual(
      retained.messages.map((message) => message.topic),
      [up('gw-b', 'status', 'team-b')],
    );
    // One warning for the five values on one topic: not a log storm.
    const warnings = hub
      .stderr()
      .split('\n')
      .filter((line) => line.includes('not placed on it') && line.includes(`"topic":"${forged}"`));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /"device":"gw-b"/);
  });

  it('sends commands only to devices the connector is placed on, whoever published under its name', async () => {
    const atA = await runConnector(gwA, 'team-a', 'gw-a-connector');
    const atB = await runConnector(gwB, 'team-a', 'gw-b-connector');
    // gw-b keeps reporting team-a's connector (dropped): before, that made it a target, and made
    // commands without --device fail for everyone with "runs on several devices".
    const intruder = track(await connectDevice(hub, gwB, { clientId: 'gw-b-reporter' }));
    await publish(
      intruder,
      up('gw-b', 'status', 'team-a'),
      { connected: true, at: new Date().toISOString() },
      true,
    );
    await publish(intruder, up('gw-b', 'telemetry', 'team-a', 'setpoint'), { value: 1 });

    const sent = await outpost(['command', 'send', CONNECTOR, 'setpoint', '21', '-n', 'team-a']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, 'gw-a acknowledged team-a/line-1 setpoint = 21: Good\n');
    assert.deepEqual(
      atA.messages.map((message) => message.topic),
      ['devices/gw-a/commands/team-a/line-1/setpoint'],
    );

    const aimed = await outpost([
      'command',
      'send',
      CONNECTOR,
      'setpoint',
      '22',
      '-n',
      'team-a',
      '--device',
      'gw-b',
    ]);
    assert.equal(aimed.code, 1);
    assert.match(
      aimed.stderr,
      /connector "team-a\/line-1" is not placed on device "gw-b" \(it is placed on gw-a\)/,
    );
    assert.deepEqual(atB.messages, [], 'gw-b got no command of team-a, so it could answer none');
    assert.equal(atA.messages.length, 1);
  });

  it('asks for --device when the connector is placed on several devices, and sends to the one named', async () => {
    const gwA2 = await enrollDevice(hub, 'gw-a2', dirs, { team: 'a' });
    await waitForPlacement(admin, ['gw-a2'], 'team-a', CONNECTOR);
    const atA2 = await runConnector(gwA2, 'team-a', 'gw-a2-connector');
    const ambiguous = await outpost(['command', 'send', CONNECTOR, 'setpoint', '23', '-n', 'team-a']);
    assert.equal(ambiguous.code, 1);
    assert.match(
      ambiguous.stderr,
      /connector "team-a\/line-1" runs on several devices \(gw-a, gw-a2\): name one \(--device\)/,
    );
    const named = await outpost([
      'command',
      'send',
      CONNECTOR,
      'setpoint',
      '23',
      '-n',
      'team-a',
      '--device',
      'gw-a2',
    ]);
    assert.equal(named.code, 0, named.stderr);
    assert.equal(named.stdout, 'gw-a2 acknowledged team-a/line-1 setpoint = 23: Good\n');
    assert.equal(atA2.messages.length, 1);
  });

  it('stops accepting a device’s values for a connector taken off it', async () => {
    const device = track(await connectDevice(hub, gwB, { clientId: 'gw-b-moved' }));
    const relabelled = await kubectl(hub, ['label', 'device', 'gw-b', 'team-']);
    assert.equal(relabelled.code, 0, relabelled.stderr);
    await waitFor('team-b/line-1 taken off gw-b', async () => {
      const mailbox = await admin.request('GET', `${V1}/mailboxes/gw-b`);
      const objects = (mailbox.status === 200 ? (mailbox.json().spec?.objects ?? []) : []) as unknown[];
      return objects.length === 0;
    });
    const before = seen.messages.length;
    await publish(device, up('gw-b', 'telemetry', 'team-b', 'temperature'), { value: 77 });
    // gw-a's value, accepted, comes after: gw-b's would have come before it.
    const other = track(await connectDevice(hub, gwA, { clientId: 'gw-a-marker' }));
    await publish(other, up('gw-a', 'telemetry', 'team-a', 'temperature'), { value: 6 });
    await waitFor('the marker at the observer', () =>
      seen.messages
        .slice(before)
        .some((message) => message.topic === up('gw-a', 'telemetry', 'team-a', 'temperature')),
    );
    assert.ok(!seen.messages.slice(before).some((message) => message.body.value === 77));
    assert.deepEqual(
      (await latest('team-b')).map((item) => `${item.device} ${item.value}`),
      ['gw-b 5'],
      'the value from before the move, not the one after',
    );
  });
});
