/**
 * The hub's broker as MQTT over TLS (`outpost hub --mqtt-tls-port 0`), end
 * to end with a hub process and mqtt.js clients holding certificates from the
 * hub's CA: a gateway's bridge certificate carries the topics of the devices
 * below it and nobody else's (another device's refused, a device elsewhere
 * refused, a decommissioned child refused), commands come down to it and its
 * acks go up; a device keeps to its own topics as on the WebSocket path;
 * decommissioning drops connections and refuses the next CONNECT; the bridge
 * certificate is still refused by the HTTP API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import {
  type ApiClient,
  apiClient,
  type ClientCredentials,
  closed,
  collect,
  connectMqtt,
  createConnector,
  type HubProcess,
  hubRequest,
  issueBridgeCertificate,
  issueClientCertificate,
  issueDeviceCertificate,
  PLACED_LABEL,
  publish,
  removeDir,
  startHubProcess,
  subscribeCodes,
  waitFor,
  waitForPlacement,
} from '../support/index.ts';

const V1 = '/apis/outpost.dev/v1alpha1';
const NS = 'plant';
const CONNECTOR = 'line-1';
const telemetryTopic = (device: string, feature: string) =>
  `devices/${device}/telemetry/${NS}/${CONNECTOR}/${feature}`;
const ackTopic = (device: string) => `devices/${device}/acks/${NS}/${CONNECTOR}`;

describe("the hub's MQTT-over-TLS listener", () => {
  let hub: HubProcess;
  let admin: ApiClient;
  let connectorKind = false;
  const uids: Record<string, string> = {};
  const clients: MqttClient[] = [];
  const connect = async (credentials: ClientCredentials, clientId: string) => {
    const client = await connectMqtt(hub.mqttTlsUrl!, { ...credentials, clientId, clean: true });
    clients.push(client);
    return client;
  };
  const latest = async (device: string) =>
    (
      await admin.request(
        'GET',
        `${V1}/namespaces/${NS}/opcuaconnectors/${CONNECTOR}/telemetry?device=${device}`,
      )
    ).json().items as Array<{ feature: string; value: unknown }>;

  before(async () => {
    hub = await startHubProcess({ args: ['--mqtt-tls-port', '0'] });
    assert.match(hub.mqttTlsUrl ?? '', /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    admin = apiClient(hub.kubeconfig);
    // enterprise (level 4) > site (3) > area (2); elsewhere, a device under no gateway.
    const devices: Array<[string, Record<string, unknown>]> = [
      ['enterprise', { level: 4, gateway: { address: '127.0.0.1' } }],
      ['site', { parent: 'enterprise', level: 3, gateway: { address: '127.0.0.1' } }],
      ['area', { parent: 'site', level: 2 }],
      ['elsewhere', {}],
    ];
    for (const [name, spec] of devices) {
      const created = await admin.request('POST', `${V1}/devices`, {
        body: {
          apiVersion: 'outpost.dev/v1alpha1',
          kind: 'Device',
          metadata: { name, labels: { [PLACED_LABEL]: 'yes' } },
          spec: { approved: true, ...spec },
        },
      });
      assert.equal(created.status, 201, created.text);
      uids[name] = created.json().metadata.uid;
    }
    connectorKind = await createConnector(admin, NS, CONNECTOR);
    assert.ok(connectorKind, 'the OpcUaConnector kind is served');
    await waitForPlacement(admin, ['area', 'elsewhere'], NS, CONNECTOR);
  });
  after(async () => {
    for (const client of clients) client.end(true);
    await admin?.close();
    await hub?.stop();
    if (hub) await removeDir(hub.dataDir);
  });

  it('refuses a client without a certificate, and a certificate nobody is', async () => {
    const { ca } = await issueBridgeCertificate(hub, 'enterprise');
    await assert.rejects(connectMqtt(hub.mqttTlsUrl!, { ca, clientId: 'anonymous' }));
    // A person's certificate (not system:masters) and a bridge of a gateway that does not exist.
    for (const credentials of [
      await issueClientCertificate(hub, { commonName: 'alice', organizations: ['outpost:workload-teams'] }),
      await issueBridgeCertificate(hub, 'no-such-gateway'),
    ])
      await assert.rejects(
        connectMqtt(hub.mqttTlsUrl!, { ...credentials, clientId: 'nobody' }),
        /Not authorized/,
      );
  });

  it("carries the topics of the devices below a gateway over its bridge, and refuses anyone else's", async () => {
    const bridge = await connect(await issueBridgeCertificate(hub, 'enterprise'), 'upward');
    assert.deepEqual(
      await subscribeCodes(bridge, [
        'devices/area/commands/#',
        'devices/site/commands/#',
        'devices/elsewhere/commands/#',
        'devices/enterprise/commands/#',
        'devices/+/commands/#',
        '#',
      ]),
      [1, 1, 128, 128, 128, 128],
    );
    await publish(bridge, telemetryTopic('area', 'temperature'), { value: 20.5, seq: 1 });
    await waitFor('the value of area through the bridge', async () =>
      (await latest('area')).some((item) => item.value === 20.5),
    );

    // A command to area comes down to the bridge, and the ack it carries up answers it.
    const commands = await collect(bridge, 'devices/area/commands/#');
    bridge.on('message', (topic, payload) => {
      if (!topic.startsWith('devices/area/commands/')) return;
      const { id } = JSON.parse(payload.toString()) as { id: string };
      void publish(bridge, ackTopic('area'), { id, ok: true, statusCode: 'Good' });
    });
    const sent = await admin.request('POST', `${V1}/namespaces/${NS}/opcuaconnectors/${CONNECTOR}/commands`, {
      body: { feature: 'setpoint', value: 42, device: 'area' },
    });
    assert.equal(sent.status, 200, sent.text);
    assert.equal(sent.json().statusCode, 'Good');
    assert.equal(commands.messages[0]?.topic, `devices/area/commands/${NS}/${CONNECTOR}/setpoint`);

    // A device under no gateway of this bridge: the connection is closed and the value goes nowhere.
    const ended = closed(bridge);
    bridge.publish(telemetryTopic('elsewhere', 'temperature'), JSON.stringify({ value: -999 }), { qos: 1 });
    await ended;
    assert.deepEqual(await latest('elsewhere'), []);

    // The level-3 gateway's bridge carries area (below it) but not site itself.
    const lower = await connect(await issueBridgeCertificate(hub, 'site'), 'upward');
    assert.deepEqual(
      await subscribeCodes(lower, ['devices/area/commands/#', 'devices/site/commands/#']),
      [1, 128],
    );
  });

  it('keeps a device to its own topics, and refuses the bridge certificate on the HTTP API', async () => {
    const area = await connect(await issueDeviceCertificate(hub, 'area', uids.area!), 'own');
    await publish(area, telemetryTopic('area', 'pressure'), { value: 3.5, seq: 1 });
    await waitFor('the value of area over its own connection', async () =>
      (await latest('area')).some((item) => item.feature === 'pressure'),
    );
    assert.deepEqual(await subscribeCodes(area, ['devices/elsewhere/commands/#']), [128]);
    const ended = closed(area);
    area.publish(telemetryTopic('elsewhere', 'pressure'), JSON.stringify({ value: -1 }), { qos: 1 });
    await ended;

    const bridge = await issueBridgeCertificate(hub, 'enterprise');
    const api = await hubRequest(hub, 'GET', `${V1}/devices/enterprise`, {
      cert: bridge.cert,
      key: bridge.key,
    });
    assert.equal(api.status, 401);
  });

  it("drops a decommissioned device's connection, refuses its next CONNECT and its topics on the bridge", async () => {
    const credentials = await issueDeviceCertificate(hub, 'area', uids.area!);
    const area = await connect(credentials, 'before-decommission');
    const bridge = await connect(await issueBridgeCertificate(hub, 'enterprise'), 'upward-2');
    assert.deepEqual(await subscribeCodes(bridge, ['devices/area/commands/#']), [1]);
    const dropped = closed(area);
    const at = Date.now();
    const deleted = await admin.request('DELETE', `${V1}/devices/area`);
    assert.ok(deleted.status === 200 || deleted.status === 202, deleted.text);
    console.log(`area's MQTT connection closed ${(await dropped) - at} ms after the DELETE was sent`);
    await waitFor('area gone', async () => (await admin.request('GET', `${V1}/devices/area`)).status === 404);
    await assert.rejects(
      connectMqtt(hub.mqttTlsUrl!, { ...credentials, clientId: 'after' }),
      /Not authorized/,
    );
    assert.deepEqual(await subscribeCodes(bridge, ['devices/area/commands/again/#']), [128]);
    const ended = closed(bridge);
    bridge.publish(telemetryTopic('area', 'temperature'), JSON.stringify({ value: -5 }), { qos: 1 });
    await ended;

    // The gateway decommissioned: its bridge's connection goes with it.
    const last = await connect(await issueBridgeCertificate(hub, 'enterprise'), 'upward-3');
    const gone = closed(last);
    const removed = await admin.request('DELETE', `${V1}/devices/enterprise`);
    assert.ok(removed.status === 200 || removed.status === 202, removed.text);
    await gone;
  });
});
