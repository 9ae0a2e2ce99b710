/**
 * A nested network's data plane end to end, on one host: an `outpost hub`
 * bridged to an external Mosquitto (`--mqtt`), a level-4 and a level-3
 * gateway agent that run the Mosquitto the hub renders for each (the
 * level-3 one bridged to the level-4 one over TLS with its bridge
 * certificate), and a level-2 device agent. The device learns its parent's
 * broker from its Device and sends its telemetry there over TLS with its
 * device certificate; two bridges carry it to the hub's broker, where it is
 * in the latest-value table, in order and complete; commands come down the
 * same way and their acks go up. A gateway's broker takes only the hub CA's
 * certificates, and each device's own topics only.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import {
  type AgentProcess,
  type ApiClient,
  apiClient,
  connectMqtt,
  createToken,
  freePort,
  type HubProcess,
  killWorkloads,
  kubeconfigCredentials,
  type Mosquitto,
  observe,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  startMosquitto,
  tempDir,
  waitFor,
  waitForMessage,
} from '../support/index.ts';

const TOP = 'gw-data-level4';
const GATEWAY = 'site-data-level3';
const CHILD = 'area-data-level2';
const DEVICES = '/apis/outpost.dev/v1alpha1/devices';
const COUNT = 300;

describe("a child's telemetry goes through its parent's broker to the hub", { timeout: 300_000 }, () => {
  let external: Mosquitto;
  let hub: HubProcess;
  let api: ApiClient;
  let top!: AgentProcess;
  let gateway!: AgentProcess;
  let child: AgentProcess;
  let local: MqttClient | undefined;
  let stranger: MqttClient | undefined;
  const strangerHeard: string[] = [];
  const dirs: string[] = [];
  let brokerPort: number;

  const patch = async (path: string, body: unknown) => {
    const answer = await api.request('PATCH', path, { body, contentType: 'application/merge-patch+json' });
    assert.equal(answer.status, 200, answer.text);
  };
  const device = async (name: string) => (await api.request('GET', `${DEVICES}/${name}`)).json();
  const enrolled = async (name: string) => {
    const dataDir = await tempDir(`outpost-${name}-`);
    dirs.push(dataDir);
    return startAgent({
      hubUrl: hub.url,
      token: await createToken(hub),
      dataDir,
      name,
      args: ['--stop-workloads-on-exit'],
    });
  };
  const brokerUrl = () => `mqtts://127.0.0.1:${brokerPort}`;

  before(async () => {
    external = await startMosquitto();
    hub = await startHubProcess({ args: ['--mqtt', external.url] });
    api = apiClient(hub.kubeconfig);
    top = await enrolled(TOP);
    gateway = await enrolled(GATEWAY);
    child = await enrolled(CHILD);
    const topPort = await freePort();
    brokerPort = await freePort();
    await patch(`${DEVICES}/${TOP}`, {
      spec: { level: 4, gateway: { address: '127.0.0.1', proxyPort: await freePort(), brokerPort: topPort } },
    });
    await patch(`${DEVICES}/${GATEWAY}`, {
      spec: {
        parent: TOP,
        level: 3,
        gateway: { address: '127.0.0.1', proxyPort: await freePort(), brokerPort },
      },
    });
    // A short heartbeat period: the child reads where its parent's broker is from the Device it gets back.
    await patch(`${DEVICES}/${CHILD}`, {
      spec: { parent: GATEWAY, level: 2, heartbeat: { periodSeconds: 2 } },
    });
  });

  after(async () => {
    await local?.endAsync();
    await stranger?.endAsync();
    await child?.stop();
    await gateway?.stop();
    await top?.stop();
    for (const dir of dirs) killWorkloads(dir);
    await api?.close();
    await hub?.stop();
    await external?.cleanup();
    for (const dir of dirs) await removeDir(dir);
    if (hub) await removeDir(hub.dataDir);
  });

  it("tells the child where its parent's broker is, which takes only the hub CA's certificates and each device's own topics", async () => {
    await waitFor('the child told its parent broker', async () => {
      return (await device(CHILD)).status?.nested?.parentBroker === brokerUrl();
    });
    for (const [name, agent] of [
      [TOP, top],
      [GATEWAY, gateway],
    ] as const)
      await waitFor(
        `${name}'s broker running`,
        async () => (await device(name)).status?.nested?.broker?.ready === true,
        120_000,
      ).catch((error: Error) => {
        const logs = recordedProcesses(agent.dataDir).map(({ logPath }) =>
          readFileSync(logPath, 'utf8').slice(-2000),
        );
        throw new Error(
          `${error.message}; output: ${logs.join('\n---\n')}; agent: ${agent.stderr().slice(-3000)}`,
        );
      });
    // The child's agent follows its Device: from now on its uplink goes to its parent's broker.
    await waitFor('the child sending to its parent', () =>
      child
        .stderr()
        .split('\n')
        .some(
          (line) => line.includes('telemetry uplink target changed') && line.includes(`"${brokerUrl()}"`),
        ),
    );
    const childCredentials = await kubeconfigCredentials(join(child.dataDir, 'kubeconfig'));
    // Without a client certificate: refused in the handshake.
    await assert.rejects(connectMqtt(brokerUrl(), { ca: childCredentials.ca }));
    // The gateway's own device certificate is the hub CA's, but the gateway is not its own child: it
    // connects, and may neither speak for the child (checked below: its forged value never arrives) nor
    // hear the child's commands (checked with the command below).
    const gatewayCredentials = await kubeconfigCredentials(join(gateway.dataDir, 'kubeconfig'));
    stranger = await connectMqtt(brokerUrl(), {
      ca: gatewayCredentials.ca,
      cert: gatewayCredentials.cert,
      key: gatewayCredentials.key,
      clientId: 'stranger',
    });
    stranger.on('message', (topic) => strangerHeard.push(topic));
    await stranger.subscribeAsync(`devices/${CHILD}/commands/#`, { qos: 1 });
    await stranger.publishAsync(
      `devices/${CHILD}/telemetry/nested/plc/counter`,
      JSON.stringify({ value: -1, seq: -1 }),
      { qos: 1 },
    );
  });

  it('carries what a workload on the level-2 device publishes through two bridges to the hub, complete and in order', async () => {
    const seen = await observe(external.url, [`devices/${CHILD}/#`]);
    try {
      const { port } = JSON.parse(readFileSync(join(child.dataDir, 'mqtt.json'), 'utf8')) as { port: number };
      local = await connectMqtt(`mqtt://127.0.0.1:${port}`, { clientId: 'plc-publisher' });
      for (let seq = 1; seq <= COUNT; seq++)
        await local.publishAsync(
          'telemetry/nested/plc/counter',
          JSON.stringify({ value: seq, seq, sourceTimestamp: new Date().toISOString() }),
          { qos: 1 },
        );
      await waitFor(
        `${COUNT} values at the hub's broker`,
        () => seen.messages.filter((m) => m.topic.includes('/telemetry/')).length >= COUNT,
        120_000,
      );
      const seqs = seen.messages
        .filter((m) => m.topic.includes('/telemetry/'))
        .map((m) => m.body.seq as number);
      // At least once: a resent message may repeat, but never go back past one already delivered.
      const distinct = seqs.filter((seq, i) => i === 0 || seq !== seqs[i - 1]);
      assert.deepEqual(
        distinct,
        Array.from({ length: COUNT }, (_, i) => i + 1),
      );
      assert.equal(seen.messages[0]?.topic, `devices/${CHILD}/telemetry/nested/plc/counter`);
      // And the hub's latest-value table has the last one.
      await waitFor('the last value in the hub table', async () => {
        const answer = await api.request(
          'GET',
          `/apis/outpost.dev/v1alpha1/opcuaconnectors/telemetry?device=${CHILD}`,
        );
        const items = (answer.json().items ?? []) as Array<{ feature: string; value: unknown }>;
        return items.some((item) => item.feature === 'counter' && item.value === COUNT);
      });
    } finally {
      await seen.close();
    }
  });

  it('brings a command down through both bridges and its ack back up', async () => {
    const seen = await observe(external.url, [`devices/${CHILD}/acks/#`]);
    try {
      assert.ok(local, 'the local client of the previous test');
      const commands: string[] = [];
      local.on('message', (topic, payload) => {
        commands.push(topic);
        const { id } = JSON.parse(payload.toString()) as { id: string };
        local!.publish('acks/nested/plc', JSON.stringify({ id, ok: true, statusCode: 'Good' }), { qos: 1 });
      });
      await local.subscribeAsync('commands/#', { qos: 1 });
      const publisher = await connectMqtt(external.url, { clientId: 'hub-side' });
      try {
        // The agent subscribes on its parent's broker once it knows a local client wants commands; until
        // then a command has no one to go to, so it is sent again until one arrives.
        await waitFor('the command on the child', async () => {
          if (commands.length > 0) return true;
          await publisher.publishAsync(
            `devices/${CHILD}/commands/nested/plc/setpoint`,
            JSON.stringify({ id: 'c1', value: 42 }),
            { qos: 1 },
          );
          return false;
        });
      } finally {
        await publisher.endAsync();
      }
      assert.equal(commands[0], 'commands/nested/plc/setpoint');
      const ack = await waitForMessage(seen.messages, 'the ack at the hub', (m) => m.body.id === 'c1');
      assert.equal(ack.topic, `devices/${CHILD}/acks/nested/plc`);
      assert.deepEqual(strangerHeard, [], "no one but the child hears the child's commands");
    } finally {
      await seen.close();
    }
  });

  it('keeps what the level-2 device sends while level 4 is down, and delivers it in order once it is back', async () => {
    assert.ok(local, 'the local client of the earlier test');
    const seen = await observe(external.url, [`devices/${CHILD}/telemetry/#`]);
    try {
      // Level 4 goes down, its broker with it: level 3's bridge has nowhere to go.
      await top.stop();
      const from = COUNT + 1;
      const to = COUNT * 2;
      for (let seq = from; seq <= to; seq++)
        await local.publishAsync('telemetry/nested/plc/counter', JSON.stringify({ value: seq, seq }), {
          qos: 1,
        });
      // Acknowledged on the device; the level-3 gateway's broker holds them meanwhile (none reach the hub).
      await new Promise((resolve) => setTimeout(resolve, 3000));
      assert.equal(seen.messages.filter((m) => (m.body.seq as number) >= from).length, 0);
      top = await startAgent({
        hubUrl: hub.url,
        dataDir: top.dataDir,
        name: TOP,
        args: ['--stop-workloads-on-exit'],
      });
      await waitFor(
        `values ${from}..${to} at the hub's broker after level 4 came back`,
        () => seen.messages.filter((m) => (m.body.seq as number) >= from).length >= COUNT,
        180_000,
      );
      const seqs = seen.messages.map((m) => m.body.seq as number).filter((seq) => seq >= from);
      const distinct = seqs.filter((seq, i) => i === 0 || seq !== seqs[i - 1]);
      assert.deepEqual(
        distinct,
        Array.from({ length: COUNT }, (_, i) => from + i),
      );
    } finally {
      await seen.close();
    }
  });
});
