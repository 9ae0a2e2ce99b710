/**
 * Telemetry through the agent: messages per second from a workload's MQTT
 * client, through the agent's local endpoint, its disk FIFO
 * (DATA_DIR/telemetry-outbox) and its MQTT-over-WebSocket uplink, to the
 * hub's embedded broker, received by a subscriber on the hub. Baseline, in
 * the same run: the same client publishing the same messages straight to
 * the hub's broker (wss, the device's certificate), the same subscriber.
 * Both publish QoS 1 with at most WINDOW messages unacknowledged; a round
 * ends when the subscriber has every message. Rounds alternate the two.
 *
 * A third figure is the FIFO alone (no network): appends in batches of
 * WINDOW, then read and acknowledge everything, per second.
 *
 *   npm run bench -- telemetry-forwarding      (or node --import tsx bench/telemetry-forwarding.ts)
 *   TELEMETRY_MESSAGES=N sets the messages per round (default 20000)
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import YAML from 'yaml';
import { enroll } from '../src/agent/enrollment/index.ts';
import { startAgentTelemetry, TelemetryOutbox } from '../src/agent/index.ts';
import {
  createToken,
  type HubProcess,
  kubectl,
  kubectlApply,
  placementOf,
  removeDir,
  startHubProcess,
  tempDir,
  waitForPlaced,
} from '../test/support/index.ts';
import { cpuMeter, fmt, machineLoad, ownCpuSeconds, report, table } from './support/index.ts';

const MESSAGES = Number(process.env.TELEMETRY_MESSAGES ?? 20_000);
const WINDOW = 1000;
const ROUNDS = 2;
const DEVICE = 'bench-gw';

const payload = (i: number) =>
  Buffer.from(
    JSON.stringify({ value: 20 + (i % 100) / 10, sourceTimestamp: new Date().toISOString(), seq: i }),
  );

/** Publishes `count` messages QoS 1 with at most WINDOW unacknowledged. */
function publishAll(client: MqttClient, topic: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    const pump = () => {
      while (sent < count && sent - acked < WINDOW) {
        const i = sent++;
        client.publish(topic, payload(i), { qos: 1 }, (error) => {
          if (error) return reject(error);
          acked++;
          if (acked === count) resolve();
          else pump();
        });
      }
    };
    pump();
  });
}

/** Counts what arrives on the hub subscriber; resolves when `count` messages arrived. */
function arrivals(subscriber: MqttClient, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onMessage = () => {
      if (++seen === count) {
        subscriber.off('message', onMessage);
        resolve();
      }
    };
    subscriber.on('message', onMessage);
  });
}

/**
 * Places Workload bench/line-1 on the device: the hub accepts what a device sends up for
 * `bench/line-1` only while it is (no agent runs it here; its Mailbox says so).
 */
async function placeLine(hub: HubProcess): Promise<void> {
  const created = await kubectl(hub, ['create', 'namespace', 'bench']);
  if (created.code !== 0) throw new Error(created.stderr);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'line-1' },
    spec: { containers: [{ name: 'main', image: 'localhost/busybox:latest' }] },
  };
  await kubectlApply(
    hub,
    {
      apiVersion: 'outpost.dev/v1alpha1',
      kind: 'Workload',
      metadata: { name: 'line-1', namespace: 'bench', labels: { app: 'line-1' } },
      spec: { resources: [pod] },
    },
    placementOf('bench', 'line-1', { app: 'line-1', site: 'bench' }),
  );
  await waitForPlaced(hub, DEVICE, 'line-1');
}

async function main(): Promise<void> {
  const hub = await startHubProcess();
  const agentDir = await tempDir('outpost-bench-telemetry-');
  const stop = new AbortController();
  try {
    const config = YAML.parse(readFileSync(hub.kubeconfig, 'utf8'));
    const decode = (data: string) => Buffer.from(data, 'base64').toString('utf8');
    const ca = decode(config.clusters[0].cluster['certificate-authority-data']);
    const mqttUrl = `${hub.url.replace(/^https/, 'wss')}/mqtt`;
    const credentials = await enroll({
      hubUrl: hub.url,
      token: await createToken(hub, ['--labels', 'site=bench']),
      name: DEVICE,
      dataDir: agentDir,
      caCert: ca,
    });
    await placeLine(hub);
    const telemetry = await startAgentTelemetry({
      dataDir: agentDir,
      device: DEVICE,
      credentials: () => credentials,
      window: WINDOW,
    });
    const running = telemetry.run(stop.signal);
    const subscriber = await mqtt.connectAsync(mqttUrl, {
      protocolVersion: 4,
      clientId: 'bench-admin',
      ca,
      cert: decode(config.users[0].user['client-certificate-data']),
      key: decode(config.users[0].user['client-key-data']),
    });
    await subscriber.subscribeAsync(`devices/${DEVICE}/telemetry/#`, { qos: 1 });
    const local = await mqtt.connectAsync(telemetry.url, { protocolVersion: 4, clientId: 'bench-workload' });
    const direct = await mqtt.connectAsync(mqttUrl, {
      protocolVersion: 4,
      clientId: 'bench-direct',
      ca,
      cert: credentials.certPem,
      key: credentials.keyPem,
    });

    const hubCpu = cpuMeter(hub.process.pid!);
    const rows: string[][] = [];
    const rates: Record<string, number[]> = { agent: [], direct: [] };
    const round = async (what: 'agent' | 'direct', count: number) => {
      const arrived = arrivals(subscriber, count);
      const cpu0 = ownCpuSeconds();
      const started = performance.now();
      if (what === 'agent') await publishAll(local, 'telemetry/bench/line-1/temperature', count);
      else await publishAll(direct, `devices/${DEVICE}/telemetry/bench/line-1/temperature`, count);
      await arrived;
      const seconds = (performance.now() - started) / 1000;
      return { rate: count / seconds, seconds, cpu: ownCpuSeconds() - cpu0 };
    };
    // Warm-up of both paths (JIT, connections), not counted.
    await round('agent', 2000);
    await round('direct', 2000);
    for (let r = 0; r < ROUNDS; r++) {
      for (const what of ['agent', 'direct'] as const) {
        const result = await round(what, MESSAGES);
        rates[what]!.push(result.rate);
        rows.push([
          what === 'agent'
            ? 'workload → agent (local MQTT, FIFO, wss) → hub'
            : 'baseline: client → hub (wss)',
          fmt(MESSAGES),
          fmt(result.seconds, 2),
          fmt(result.rate),
          fmt(result.cpu, 2),
        ]);
      }
    }
    const hubCpuSeconds = hubCpu.stop();
    stop.abort();
    await running;
    await Promise.all([local.endAsync(), direct.endAsync(), subscriber.endAsync()]);
    await telemetry.close();

    // The FIFO alone.
    const fifoDir = await tempDir('outpost-bench-fifo-');
    const outbox = await TelemetryOutbox.open({ dir: fifoDir });
    const appendStart = performance.now();
    for (let i = 0; i < MESSAGES; i += WINDOW) {
      const batch = [];
      for (let j = i; j < Math.min(MESSAGES, i + WINDOW); j++)
        batch.push(outbox.append('telemetry/bench/line-1/temperature', payload(j)));
      await Promise.all(batch);
    }
    const appendRate = MESSAGES / ((performance.now() - appendStart) / 1000);
    const drainStart = performance.now();
    for (;;) {
      const messages = await outbox.read(WINDOW);
      if (messages.length === 0) break;
      for (const message of messages) outbox.ack(message.seq);
    }
    const drainRate = MESSAGES / ((performance.now() - drainStart) / 1000);
    await outbox.close();
    await removeDir(fifoDir);

    const best = (values: number[]) => Math.max(...values);
    const ratio = best(rates.agent!) / best(rates.direct!);
    console.log(
      `telemetry forwarding (${machineLoad()}), ${MESSAGES} messages of ~80 bytes per round, QoS 1, window ${WINDOW}`,
    );
    console.log(table(['path', 'messages', 'seconds', 'messages/s', 'bench process CPU s'], rows));
    console.log(`hub CPU over all rounds: ${fmt(hubCpuSeconds, 2)} s`);
    console.log(`agent path / direct: ${fmt(ratio, 2)} (best rounds)`);
    console.log(`FIFO alone: append ${fmt(appendRate)} messages/s, read + ack ${fmt(drainRate)} messages/s`);
    report('telemetry-forwarding', {
      agentRate: Math.round(best(rates.agent!)),
      directRate: Math.round(best(rates.direct!)),
      ratio: Number(ratio.toFixed(2)),
      fifoAppendRate: Math.round(appendRate),
      fifoDrainRate: Math.round(drainRate),
      hubCpuSeconds: Number(hubCpuSeconds.toFixed(2)),
    });
  } finally {
    stop.abort();
    await hub.stop();
    await removeDir(agentDir);
  }
}

await main();
