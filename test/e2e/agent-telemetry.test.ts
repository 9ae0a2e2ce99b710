/**
 * Telemetry and commands through the agent, with hub and agent processes: a
 * process workload publishes to `$OUTPOST_MQTT_URL` and its messages reach
 * the hub's broker under `devices/<name>/telemetry/...`; a command published
 * on the hub reaches the workload's local subscription; with the hub stopped
 * (and the agent SIGKILLed and restarted meanwhile) messages wait on disk and
 * arrive afterwards in order, none lost, none twice.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import YAML from 'yaml';
import {
  type AgentProcess,
  createToken,
  Gate,
  type HubProcess,
  killWorkloads,
  kubectl,
  kubectlApply,
  placementOf,
  ROOT,
  recordedProcesses,
  removeDir,
  startAgent,
  startHubProcess,
  tempDir,
  waitFor,
} from '../support/index.ts';

const NS = 'agent-telemetry';
const DEVICE = 'gw-telemetry-1';

/**
 * The workload: publishes under its own name, `<namespace>/<workload>` (the hub accepts what a
 * device sends up only for Workloads placed on it), bursts of numbered telemetry (QoS 1) when a command
 * `commands/agent-telemetry/telemetry/burst` asks for it (then acks it), or when the test drops
 * a file `burst-N` in TRIGGER_DIR (then writes `done-N` once every message of
 * the burst was acknowledged by the agent).
 */
const PUBLISHER = `
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
const mqtt = createRequire(process.env.OUTPOST_ROOT + '/package.json')('mqtt');
const dir = process.env.TRIGGER_DIR;
const client = mqtt.connect(process.env.OUTPOST_MQTT_URL, { protocolVersion: 4, clientId: 'publisher', reconnectPeriod: 200 });
let seq = existsSync(dir + '/seq') ? Number(readFileSync(dir + '/seq', 'utf8')) : 0;
const publish = (topic, body) =>
  new Promise((resolve, reject) => client.publish(topic, JSON.stringify(body), { qos: 1 }, (e) => (e ? reject(e) : resolve())));
async function burst(count) {
  const sent = [];
  for (let i = 0; i < count; i++) {
    seq++;
    sent.push(publish('telemetry/agent-telemetry/telemetry/counter', { value: seq, seq, sourceTimestamp: new Date().toISOString() }));
  }
  await Promise.all(sent);
  writeFileSync(dir + '/seq', String(seq));
}
client.on('connect', () => {
  client.subscribe('commands/#', { qos: 1 }, () => console.log('subscribed'));
});
client.on('message', async (topic, payload) => {
  const command = JSON.parse(payload.toString());
  await burst(command.value);
  await publish('acks/agent-telemetry/telemetry', { id: command.id, ok: true, statusCode: 'Good', device: process.env.OUTPOST_DEVICE, topic });
});
const seen = new Set();
setInterval(async () => {
  for (const name of readdirSync(dir)) {
    const match = /^burst-(\\d+)$/.exec(name);
    if (!match || seen.has(name)) continue;
    seen.add(name);
    await burst(Number(readFileSync(dir + '/' + name, 'utf8')));
    writeFileSync(dir + '/done-' + match[1], String(seq));
  }
}, 100);
`;

function workload(script: string, triggerDir: string) {
  return {
    apiVersion: 'outpost.dev/v1alpha1',
    kind: 'Workload',
    metadata: { name: 'telemetry', namespace: NS, labels: { app: 'telemetry' } },
    spec: {
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'publisher' },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'main',
                image: 'localhost/busybox:latest',
                command: [process.execPath, script],
                env: [
                  { name: 'TRIGGER_DIR', value: triggerDir },
                  { name: 'OUTPOST_ROOT', value: ROOT },
                ],
                // The workload sees only what it declares: the folder of its script and of the test's triggers.
                volumeMounts: [{ name: 'triggers', mountPath: triggerDir }],
              },
            ],
            volumes: [{ name: 'triggers', hostPath: { path: triggerDir } }],
          },
        },
        {
          // `outpost` is the agent's own CLI on the process runtime.
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'outpost-version' },
          spec: {
            restartPolicy: 'Never',
            containers: [
              { name: 'main', image: 'localhost/busybox:latest', command: ['outpost', '--version'] },
            ],
          },
        },
      ],
    },
  };
}

const placement = placementOf(NS, 'telemetry', { app: 'telemetry', site: 'telemetry' });

interface Received {
  readonly topic: string;
  readonly body: { seq?: number; id?: string; device?: string; topic?: string };
}

/** An admin (system:masters) MQTT client on the hub's broker, recording what it receives. */
async function adminClient(hub: HubProcess, received: Received[]): Promise<MqttClient> {
  const config = YAML.parse(readFileSync(hub.kubeconfig, 'utf8'));
  const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
  const client = await mqtt.connectAsync(`${hub.url.replace(/^https/, 'wss')}/mqtt`, {
    protocolVersion: 4,
    clientId: `admin-${Date.now()}`,
    reconnectPeriod: 0,
    ca: decode(config.clusters[0].cluster['certificate-authority-data']),
    cert: decode(config.users[0].user['client-certificate-data']),
    key: decode(config.users[0].user['client-key-data']),
  });
  client.on('message', (topic, payload) => received.push({ topic, body: JSON.parse(payload.toString()) }));
  await client.subscribeAsync([`devices/${DEVICE}/telemetry/#`, `devices/${DEVICE}/acks/#`], { qos: 1 });
  return client;
}

describe('agent telemetry and commands', { timeout: 300_000 }, () => {
  let hub: HubProcess;
  let agent: AgentProcess;
  let admin: MqttClient | undefined;
  let gate: Gate;
  let gateUrl: string;
  let hubPort: number;
  let hubDir: string;
  let dataDir: string;
  let triggerDir: string;
  const received: Received[] = [];
  const seqs = () =>
    received
      .filter((r) => r.topic === `devices/${DEVICE}/telemetry/agent-telemetry/telemetry/counter`)
      .map((r) => r.body.seq!);
  const ackOf = (id: string) =>
    received.find((r) => r.topic === `devices/${DEVICE}/acks/agent-telemetry/telemetry` && r.body.id === id);

  before(async () => {
    hub = await startHubProcess();
    hubDir = hub.dataDir;
    hubPort = Number(new URL(hub.url).port);
    gate = new Gate(() => hubPort);
    gateUrl = await gate.listen();
    dataDir = await tempDir('outpost-agent-telemetry-');
    triggerDir = await tempDir('outpost-agent-telemetry-trigger-');
    // Shared with the workload, which runs as its own unprivileged uid.
    chmodSync(triggerDir, 0o777);
    const script = join(triggerDir, 'publisher.mjs');
    writeFileSync(script, PUBLISHER, { mode: 0o644 });
    const token = await createToken(hub, ['--labels', 'site=telemetry']);
    agent = await startAgent({ hubUrl: gateUrl, token, dataDir, name: DEVICE });
    assert.equal((await kubectl(hub, ['create', 'namespace', NS])).code, 0);
    // hostPath volumes need the privileged Pod Security level.
    const label = ['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=privileged'];
    assert.equal((await kubectl(hub, label)).code, 0);
    await kubectlApply(hub, workload(script, triggerDir), placement);
    admin = await adminClient(hub, received);
    await waitFor('the workload subscribed locally', () => {
      const publisher = recordedProcesses(dataDir).find((p) => p.unit.includes('publisher'));
      return publisher && readFileSync(publisher.logPath, 'utf8').includes('subscribed');
    });
  });

  after(async () => {
    await admin?.endAsync(true);
    await agent?.stop();
    if (dataDir) killWorkloads(dataDir);
    await hub?.stop();
    await gate?.close();
    for (const dir of [dataDir, hubDir, triggerDir]) if (dir) await removeDir(dir);
  });

  it('runs a container command `outpost` as the agent’s own CLI', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    await waitFor('outpost --version ran', () => {
      const run = recordedProcesses(dataDir).find((p) => p.unit.includes('outpost-version'));
      return run && readFileSync(run.logPath, 'utf8').includes(version);
    });
  });

  it('delivers a hub command to the workload and the workload’s telemetry and ack to the hub', async () => {
    // The agent subscribes to its commands once connected: ask until an ack comes back (an empty burst).
    let ping = 0;
    await waitFor('a command round trip', async () => {
      const id = `ping-${++ping}`;
      await admin!.publishAsync(
        `devices/${DEVICE}/commands/agent-telemetry/telemetry/burst`,
        JSON.stringify({ id, value: 0 }),
        { qos: 1 },
      );
      return waitFor(`ack ${id}`, () => ackOf(id), 2000).catch(() => false);
    });
    await admin!.publishAsync(
      `devices/${DEVICE}/commands/agent-telemetry/telemetry/burst`,
      JSON.stringify({ id: 'burst-1', value: 20 }),
      { qos: 1 },
    );
    const ack = await waitFor('the burst acknowledged', () => ackOf('burst-1'));
    assert.equal(ack.body.device, DEVICE, 'OUTPOST_DEVICE names the device');
    assert.equal(
      ack.body.topic,
      'commands/agent-telemetry/telemetry/burst',
      'the device prefix is stripped locally',
    );
    assert.deepEqual(
      seqs(),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it('keeps messages on disk while the hub is away, across an agent restart, and delivers them in order once', async () => {
    const port = JSON.parse(readFileSync(join(dataDir, 'mqtt.json'), 'utf8')).port as number;
    gate.open = false;
    await admin!.endAsync(true);
    admin = undefined;
    await hub.stop();

    writeFileSync(join(triggerDir, 'burst-2'), '200');
    await waitFor('200 messages acknowledged by the agent', () => existsSync(join(triggerDir, 'done-2')));
    const outbox = join(dataDir, 'telemetry-outbox');
    const queuedBytes = readdirSync(outbox)
      .filter((name) => name.endsWith('.seg'))
      .reduce((sum, name) => sum + statSync(join(outbox, name)).size, 0);
    assert.ok(queuedBytes > 200 * 50, `the messages wait on disk (${queuedBytes} bytes)`);

    // Retrying without the hub logs the state change once, not every attempt.
    const count = (text: string) => agent.stderr().split(text).length - 1;
    assert.equal(count('hub MQTT connection lost'), 1, agent.stderr());
    assert.equal(count('cannot reach the hub MQTT endpoint'), 0, agent.stderr());

    // The agent dies and comes back while the hub is still away: the queue survives, the port is kept.
    await agent.stop('SIGKILL');
    agent = await startAgent({ hubUrl: gateUrl, dataDir, name: DEVICE });
    assert.equal(JSON.parse(readFileSync(join(dataDir, 'mqtt.json'), 'utf8')).port, port);
    writeFileSync(join(triggerDir, 'burst-3'), '100');
    await waitFor(
      '100 more acknowledged by the new agent',
      () => existsSync(join(triggerDir, 'done-3')),
      60_000,
    );
    assert.equal(readFileSync(join(triggerDir, 'done-3'), 'utf8'), '320');

    hub = await startHubProcess({ dataDir: hubDir, args: ['--listen', `127.0.0.1:${hubPort}`] });
    admin = await adminClient(hub, received);
    gate.open = true;
    await waitFor('every queued message at the hub', () => seqs().at(-1) === 320, 60_000);
    assert.equal(count('cannot reach the hub MQTT endpoint'), 1, agent.stderr());
    assert.equal(count('hub MQTT connected'), 1, agent.stderr());
    assert.deepEqual(
      seqs(),
      Array.from({ length: 320 }, (_, i) => i + 1),
      'in order, none lost, none twice',
    );
  });
});
