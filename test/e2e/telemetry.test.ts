/**
 * The hub's telemetry and commands with its embedded broker, end to end: a
 * hub process, enrolled devices speaking MQTT 3.1.1 over `wss://HUB/mqtt`
 * with their certificates (mqtt.js), the HTTP endpoints, and the CLI
 * (`outpost telemetry watch|get`, `outpost command send`) as processes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { DeviceCredentials } from '../../src/agent/enrollment/index.ts';
import {
  type ApiClient,
  apiClient,
  bindWorkloadTeam,
  closed,
  collect,
  connectDevice,
  connectMqtt,
  createConnector,
  createUser,
  enrollDevice,
  type HubProcess,
  kubeconfigCredentials,
  mqttUrlOf,
  OUTPOST_BIN,
  publish,
  removeDir,
  run,
  startHubProcess,
  startTelemetryWatch,
  subscribeCodes,
  type User,
  upgradeStatus,
  waitFor,
  waitForPlacement,
} from '../support/index.ts';

const V1 = '/apis/outpost.dev/v1alpha1';
const NS = 'plant';
const CONNECTOR = 'line-1';
const telemetryTopic = (device: string, feature: string) =>
  `devices/${device}/telemetry/${NS}/${CONNECTOR}/${feature}`;
const statusTopic = (device: string) => `devices/${device}/status/${NS}/${CONNECTOR}`;
const ackTopic = (device: string) => `devices/${device}/acks/${NS}/${CONNECTOR}`;

describe('hub telemetry and commands (embedded broker)', () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let gwA: DeviceCredentials;
  let gwB: DeviceCredentials;
  let connectorKind = false;
  const dirs: string[] = [];
  const clients: MqttClient[] = [];
  const track = (client: MqttClient) => {
    clients.push(client);
    return client;
  };
  const outpost = (args: string[], kubeconfig = hub.kubeconfig) =>
    run(process.execPath, [OUTPOST_BIN, ...args, '--kubeconfig', kubeconfig], { timeoutMs: 60_000 });
  const latest = async (query = '') =>
    (
      await admin.request('GET', `${V1}/namespaces/${NS}/opcuaconnectors/${CONNECTOR}/telemetry${query}`)
    ).json().items as Array<Record<string, unknown>>;

  before(async () => {
    hub = await startHubProcess();
    admin = apiClient(hub.kubeconfig);
    // The OpcUaConnector kind may not be registered (built in parallel): the endpoints check
    // connectors only when it is.
    connectorKind = await createConnector(admin, NS, CONNECTOR);
    [gwA, gwB] = await Promise.all([enrollDevice(hub, 'gw-a', dirs), enrollDevice(hub, 'gw-b', dirs)]);
    // The connector is placed on both: what they send up for it is accepted, and commands may go to them.
    if (connectorKind) await waitForPlacement(admin, ['gw-a', 'gw-b'], NS, CONNECTOR);
  });
  after(async () => {
    for (const client of clients) client.end(true);
    await admin?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
    for (const dir of dirs) await removeDir(dir);
  });

  it("shows a device's values on the HTTP endpoint and in `outpost telemetry watch` as they arrive", async () => {
    const watch = startTelemetryWatch(hub, ['-n', NS, '--connector', CONNECTOR]);
    try {
      const device = track(await connectDevice(hub, gwA));
      await publish(
        device,
        statusTopic('gw-a'),
        { connected: true, server: 'opc.tcp://x', at: new Date().toISOString() },
        true,
      );
      const sourceTimestamp = '2026-11-23T18:00:00.000Z';
      await publish(device, telemetryTopic('gw-a', 'temperature'), { value: 21.5, sourceTimestamp, seq: 1 });
      const items = await waitFor('the value on the HTTP endpoint', async () => {
        const found = await latest();
        return found.length > 0 && found;
      });
      assert.equal(items.length, 1);
      assert.deepEqual(
        { ...items[0], receivedAt: undefined },
        {
          device: 'gw-a',
          namespace: NS,
          connector: CONNECTOR,
          feature: 'temperature',
          value: 21.5,
          sourceTimestamp,
          seq: 1,
          receivedAt: undefined,
        },
      );
      assert.ok(Number.isFinite(Date.parse(String(items[0]!.receivedAt))));
      // The watch started before the value: it prints it as it arrives, then the next one.
      await waitFor('the first value in the watch', () =>
        watch.stdout().includes(`${sourceTimestamp}  gw-a  ${NS}/${CONNECTOR}  temperature  21.5\n`),
      );
      await publish(device, telemetryTopic('gw-a', 'temperature'), { value: 22, sourceTimestamp, seq: 2 });
      await waitFor('the second value in the watch', () =>
        watch.stdout().includes(`${sourceTimestamp}  gw-a  ${NS}/${CONNECTOR}  temperature  22\n`),
      );
      assert.equal((await latest())[0]!.value, 22, 'only the latest value is kept');
      // Narrowed to another device: nothing; over every namespace: the value.
      assert.deepEqual(await latest('?device=gw-b'), []);
      const all = (await admin.request('GET', `${V1}/opcuaconnectors/telemetry`)).json().items;
      assert.deepEqual(
        all.map((item: { device: string; feature: string }) => `${item.device}/${item.feature}`),
        ['gw-a/temperature'],
      );
      // A watch opened now starts with the latest values.
      const got = await outpost(['telemetry', 'get', '-n', NS]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout, `${sourceTimestamp}  gw-a  ${NS}/${CONNECTOR}  temperature  22\n`);
      assert.equal(watch.stderr(), '');
    } finally {
      await watch.stop();
    }
  });

  it('refuses a device publishing or subscribing outside its own prefix, and leaks nothing', async () => {
    const adminCert = await kubeconfigCredentials(hub.kubeconfig);
    // system:masters may connect (debugging) and sees everything: the witness that nothing leaked.
    const observer = track(await connectMqtt(mqttUrlOf(hub), { ...adminCert, clientId: 'observer' }));
    const seen = await collect(observer, '#');
    assert.deepEqual(seen.granted, [1]);

    const intruder = track(await connectDevice(hub, gwB));
    const refused = await subscribeCodes(intruder, [
      'devices/gw-a/commands/#',
      '#',
      'devices/+/commands/#',
      'devices/gw-b/telemetry/#',
      'devices/gw-b/#',
    ]);
    assert.deepEqual(refused, [128, 128, 128, 128, 128]);
    const own = await collect(intruder, 'devices/gw-b/commands/#');
    assert.deepEqual(own.granted, [1]);

    // Another device's client id names another connection: the first one is not taken over.
    const owner = track(await connectDevice(hub, gwA, { clientId: 'shared-id' }));
    const ownerCommands = await collect(owner, 'devices/gw-a/commands/#');
    const sameId = track(await connectDevice(hub, gwB, { clientId: 'shared-id' }));
    const sameIdSeen = await collect(sameId, 'devices/gw-b/commands/#');
    // A round trip on the first connection after the second one's: it is still there.
    assert.deepEqual(await subscribeCodes(owner, ['devices/gw-a/commands/again/#']), [1]);
    assert.equal(owner.connected, true);
    assert.deepEqual([ownerCommands.granted, sameIdSeen.granted], [[1], [1]]);

    // Publishing into another device's topics closes the connection and drops the message.
    const ended = closed(intruder);
    intruder.publish(telemetryTopic('gw-a', 'temperature'), JSON.stringify({ value: -999 }), { qos: 1 });
    await ended;
    // A device may not publish commands either, even to itself.
    const again = track(await connectDevice(hub, gwB, { clientId: 'gw-b-again' }));
    const endedAgain = closed(again);
    again.publish(
      `devices/gw-b/commands/${NS}/${CONNECTOR}/setpoint`,
      JSON.stringify({ id: 'x', value: 1 }),
      {
        qos: 1,
      },
    );
    await endedAgain;

    // A publication the hub accepts after them is seen: anything refused would have come before it.
    const marker = track(await connectDevice(hub, gwB, { clientId: 'gw-b-marker' }));
    await publish(marker, telemetryTopic('gw-b', 'marker'), { value: 1 });
    await waitFor('the marker at the observer', () =>
      seen.messages.some((message) => message.topic === telemetryTopic('gw-b', 'marker')),
    );
    assert.deepEqual(
      seen.messages.filter((message) => !message.retained).map((message) => message.topic),
      [telemetryTopic('gw-b', 'marker')],
      'the refused messages reached nobody',
    );
    assert.ok(!(await latest()).some((item) => item.value === -999), 'the refused value is not in the table');
  });

  it('delivers a command to its device only, and `outpost command send` prints the ack', async () => {
    const a = track(await connectDevice(hub, gwA, { clientId: 'gw-a-commands' }));
    const b = track(await connectDevice(hub, gwB, { clientId: 'gw-b-commands' }));
    const atA = await collect(a, 'devices/gw-a/commands/#');
    const atB = await collect(b, 'devices/gw-b/commands/#');
    // gw-a's connector writes what it is sent: numbers are fine, anything else is a type mismatch.
    a.on('message', (_topic, payload) => {
      const command = JSON.parse(payload.toString()) as { id: string; value: unknown };
      const ok = typeof command.value === 'number';
      void publish(a, ackTopic('gw-a'), {
        id: command.id,
        ok,
        statusCode: ok ? 'Good' : 'BadTypeMismatch',
        ...(ok ? {} : { error: 'expected a Double' }),
      });
    });
    // Both devices run the connector now (gw-a reported its status already).
    await publish(b, statusTopic('gw-b'), { connected: true, at: new Date().toISOString() }, true);
    await waitFor('gw-b known to run the connector', async () => {
      const answer = await admin.request(
        'POST',
        `${V1}/namespaces/${NS}/opcuaconnectors/${CONNECTOR}/commands`,
        {
          body: { feature: 'setpoint', value: 1 },
        },
      );
      return answer.status === 409 && answer.json();
    });
    const ambiguous = await outpost(['command', 'send', CONNECTOR, 'setpoint', '55', '-n', NS]);
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /runs on several devices \(gw-a, gw-b\): name one/);

    const sent = await outpost([
      'command',
      'send',
      CONNECTOR,
      'setpoint',
      '55',
      '-n',
      NS,
      '--device',
      'gw-a',
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout, `gw-a acknowledged ${NS}/${CONNECTOR} setpoint = 55: Good\n`);
    assert.equal(atA.messages.length, 1);
    assert.equal(atA.messages[0]!.topic, `devices/gw-a/commands/${NS}/${CONNECTOR}/setpoint`);
    assert.equal(atA.messages[0]!.body.value, 55);
    assert.match(String(atA.messages[0]!.body.id), /^[0-9a-f-]{36}$/);

    const mismatch = await outpost([
      'command',
      'send',
      CONNECTOR,
      'setpoint',
      'hot',
      '-n',
      NS,
      '--device',
      'gw-a',
    ]);
    assert.equal(mismatch.code, 1);
    assert.match(
      mismatch.stderr,
      /device "gw-a" refused the command to plant\/line-1 setpoint: BadTypeMismatch: expected a Double/,
    );
    assert.equal(atA.messages[1]?.body.value, 'hot', 'a VALUE that is not JSON is sent as a string');
    assert.deepEqual(atB.messages, [], "gw-b got none of gw-a's commands");
  });

  it('answers 504 with a clear message when the device does not acknowledge within 10 s', async () => {
    const b = track(await connectDevice(hub, gwB, { clientId: 'gw-b-silent' }));
    const atB = await collect(b, 'devices/gw-b/commands/#');
    const started = Date.now();
    const sent = await outpost(['command', 'send', CONNECTOR, 'setpoint', '7', '-n', NS, '--device', 'gw-b']);
    assert.equal(sent.code, 1);
    assert.match(
      sent.stderr,
      /device "gw-b" did not acknowledge the command to plant\/line-1 setpoint within 10 s/,
    );
    assert.ok(Date.now() - started >= 10_000);
    assert.equal(atB.messages.length, 1, 'the command was delivered');
    const unknownDevice = await outpost([
      'command',
      'send',
      CONNECTOR,
      'setpoint',
      '7',
      '-n',
      NS,
      '--device',
      'gw-z',
    ]);
    assert.equal(unknownDevice.code, 1);
    assert.match(unknownDevice.stderr, /devices.outpost.dev "gw-z" not found/);
  });

  it('refuses unknown connectors and features with 404', async (t) => {
    if (!connectorKind) return t.skip('the OpcUaConnector kind is not registered yet');
    const connector = await outpost(['command', 'send', 'nope', 'setpoint', '1', '-n', NS]);
    assert.equal(connector.code, 1);
    assert.match(connector.stderr, /opcuaconnectors.outpost.dev "nope" not found/);
    const feature = await outpost([
      'command',
      'send',
      CONNECTOR,
      'humidity',
      '1',
      '-n',
      NS,
      '--device',
      'gw-a',
    ]);
    assert.equal(feature.code, 1);
    assert.match(feature.stderr, /has no feature "humidity" \(its features: setpoint, temperature\)/);
    const watch = await outpost(['telemetry', 'watch', '-n', NS, '--connector', 'nope']);
    assert.equal(watch.code, 1);
    assert.match(watch.stderr, /"nope" not found/);
  });

  it('closes the MQTT connection of a decommissioned device within a second, and refuses it after', async (t) => {
    const gwC = await enrollDevice(hub, 'gw-c', dirs, {});
    const device = track(await connectDevice(hub, gwC));
    const ended = closed(device);
    const deleted = await admin.request('DELETE', `${V1}/devices/gw-c`);
    assert.equal(deleted.status, 200, deleted.text);
    const answeredAt = Date.now();
    const closedAt = await Promise.race([
      ended,
      new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5000)),
    ]);
    assert.notEqual(closedAt, -1, 'the connection was not closed');
    assert.ok(closedAt - answeredAt < 1000, `closed ${closedAt - answeredAt} ms after the delete`);
    t.diagnostic(`MQTT connection closed ${closedAt - answeredAt} ms after the delete was answered`);
    // Its certificate is refused from now on, MQTT as everything else.
    assert.equal(await upgradeStatus(hub, { ca: gwC.caPem, cert: gwC.certPem, key: gwC.keyPem }), 401);
    await assert.rejects(connectDevice(hub, gwC, { clientId: 'gw-c-again' }));
  });

  it("refuses a person without access to a namespace's telemetry and commands with 403", async () => {
    const alice: User = await createUser(hub, 'alice', ['team-a']);
    await admin.request('POST', '/api/v1/namespaces', { body: { metadata: { name: 'team-a' } } });
    await bindWorkloadTeam(hub, 'team-a', 'team-a');
    const watch = await outpost(['telemetry', 'watch', '-n', NS, '--connector', CONNECTOR], alice.kubeconfig);
    assert.equal(watch.code, 1);
    assert.match(
      watch.stderr,
      /opcuaconnectors.outpost.dev "line-1" is forbidden: User "alice" cannot get resource "opcuaconnectors\/telemetry" in API group "outpost.dev" in the namespace "plant"/,
    );
    const all = await outpost(['telemetry', 'get', '-A'], alice.kubeconfig);
    assert.equal(all.code, 1);
    assert.match(
      all.stderr,
      /cannot get resource "opcuaconnectors\/telemetry" in API group "outpost.dev" at the cluster scope/,
    );
    const send = await outpost(
      ['command', 'send', CONNECTOR, 'setpoint', '1', '-n', NS, '--device', 'gw-a'],
      alice.kubeconfig,
    );
    assert.equal(send.code, 1);
    assert.match(
      send.stderr,
      /cannot create resource "opcuaconnectors\/commands" in API group "outpost.dev" in the namespace "plant"/,
    );
    // People do not speak MQTT to the hub (only devices, and system:masters for debugging).
    assert.equal(await upgradeStatus(hub, await kubeconfigCredentials(alice.kubeconfig)), 403);
    assert.equal(await upgradeStatus(hub, { ca: gwA.caPem }), 401);
    // In her team's namespace the workload-team role lets her read telemetry (none there yet).
    await waitFor('alice reading team-a telemetry', async () => {
      const own = await outpost(['telemetry', 'get', '-n', 'team-a'], alice.kubeconfig);
      return own.code === 0 && own.stdout === '';
    });
  });
});
