/**
 * Telemetry through a nested network: messages per second from a workload's
 * MQTT client on a level-2 device (its agent's local endpoint, disk outbox,
 * mqtts uplink to its parent) through the level-3 and the level-4 gateways'
 * rendered Mosquitto bridges to the hub's broker (`outpost hub --mqtt`, an
 * external Mosquitto), received by a subscriber there. Baseline, in the same
 * run: the same client publishing the same messages straight to the hub's
 * broker. Both publish QoS 1; a round ends when the subscriber has every
 * message; rounds alternate. Latency: paced messages (20/s) carrying their
 * send time, end to end through both levels, through one level (a workload
 * on the level-3 gateway itself, whose agent sends to level 4's broker) and
 * direct. The levels' brokers let no one but the bridges read, so what a
 * level adds is a difference: level 3's bridge is two levels less one,
 * level 4's bridge (with the device agent's own hop) is one level less
 * direct.
 *
 *   node --import tsx bench/nested-telemetry.ts      NESTED_MESSAGES=N (default 5000)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import {
  type AgentProcess,
  apiClient,
  createToken,
  freePort,
  killWorkloads,
  removeDir,
  startAgent,
  startHubProcess,
  startMosquitto,
  tempDir,
  waitFor,
} from '../test/support/index.ts';
import { fmt, goalLine, machineLoad, median, report, summarize, table } from './support/index.ts';

const MESSAGES = Number(process.env.NESTED_MESSAGES ?? 5000);
const PACED = 200;
const ROUNDS = 2;
const DEVICES = '/apis/outpost.dev/v1alpha1/devices';

async function main(): Promise<void> {
  const external = await startMosquitto();
  const hub = await startHubProcess({ args: ['--mqtt', external.url] });
  const api = apiClient(hub.kubeconfig);
  const agents: AgentProcess[] = [];
  try {
    const start = async (name: string) => {
      const agent = await startAgent({
        hubUrl: hub.url,
        token: await createToken(hub),
        dataDir: await tempDir(`outpost-bench-${name}-`),
        name,
        args: ['--stop-workloads-on-exit'],
      });
      agents.push(agent);
      return agent;
    };
    const patch = async (name: string, spec: unknown) => {
      const answer = await api.request('PATCH', `${DEVICES}/${name}`, {
        body: { spec },
        contentType: 'application/merge-patch+json',
      });
      if (answer.status !== 200) throw new Error(answer.text);
    };
    await start('bench-l4');
    const gateway = await start('bench-l3');
    const device = await start('bench-l2');
    const l3Port = await freePort();
    await patch('bench-l4', {
      level: 4,
      gateway: { address: '127.0.0.1', proxyPort: await freePort(), brokerPort: await freePort() },
    });
    await patch('bench-l3', {
      parent: 'bench-l4',
      level: 3,
      gateway: { address: '127.0.0.1', proxyPort: await freePort(), brokerPort: l3Port },
    });
    await patch('bench-l2', { parent: 'bench-l3', level: 2, heartbeat: { periodSeconds: 2 } });
    for (const name of ['bench-l4', 'bench-l3'])
      await waitFor(
        `${name}'s broker`,
        async () =>
          (await api.request('GET', `${DEVICES}/${name}`)).json().status?.nested?.broker?.ready === true,
        180_000,
      );
    for (const [agent, level] of [
      [device, 2],
      [gateway, 3],
    ] as const)
      await waitFor(
        `the level-${level} agent sending to its parent`,
        () => agent.stderr().includes('telemetry uplink target changed'),
        60_000,
      );

    const subscriber = await mqtt.connectAsync(external.url, {
      protocolVersion: 4,
      clientId: 'bench-hub-side',
    });
    await subscriber.subscribeAsync('devices/+/telemetry/#', { qos: 1 });
    const local = await localClient(device, 'bench-workload');
    const oneLevel = await localClient(gateway, 'bench-gateway-workload');
    const direct = await mqtt.connectAsync(external.url, { protocolVersion: 4, clientId: 'bench-direct' });
    const send = (what: 'nested' | 'one' | 'direct', seq: number) => {
      const payload = JSON.stringify({ seq, sent: Date.now() });
      if (what === 'nested') return local.publishAsync('telemetry/bench/line/v', payload, { qos: 1 });
      if (what === 'one') return oneLevel.publishAsync('telemetry/bench/line/v', payload, { qos: 1 });
      return direct.publishAsync('devices/bench-l2/telemetry/bench/line/v', payload, { qos: 1 });
    };

    const round = async (what: 'nested' | 'direct', count: number) => {
      const arrived = arrivals(subscriber, count);
      const started = performance.now();
      const pending: Promise<unknown>[] = [];
      for (let seq = 0; seq < count; seq++) {
        pending.push(send(what, seq));
        if (pending.length >= 500) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
      const latencies = await arrived;
      return { rate: count / ((performance.now() - started) / 1000), latencies };
    };
    const paced = async (what: 'nested' | 'one' | 'direct') => {
      const arrived = arrivals(subscriber, PACED);
      for (let seq = 0; seq < PACED; seq++) {
        await send(what, seq);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return summarize(await arrived);
    };
    await round('nested', 500);
    await round('direct', 500);
    const rates = { nested: [] as number[], direct: [] as number[] };
    for (let r = 0; r < ROUNDS; r++)
      for (const what of ['nested', 'direct'] as const) rates[what].push((await round(what, MESSAGES)).rate);
    const latency = { nested: await paced('nested'), one: await paced('one'), direct: await paced('direct') };
    const nested = median(rates.nested);
    const baseline = median(rates.direct);
    const ratio = nested / baseline;
    console.log(machineLoad());
    console.log(
      table(
        ['path', 'msg/s (median of 2)', 'paced p50 ms', 'paced p99 ms'],
        [
          [
            'level 2 → 2 bridges → hub broker',
            fmt(nested),
            fmt(latency.nested.p50, 1),
            fmt(latency.nested.p99, 1),
          ],
          ['level 3 → 1 bridge → hub broker', '', fmt(latency.one.p50, 1), fmt(latency.one.p99, 1)],
          ['direct → hub broker', fmt(baseline), fmt(latency.direct.p50, 1), fmt(latency.direct.p99, 1)],
        ],
      ),
    );
    const added = (more: { p50: number; p99: number }, less: { p50: number; p99: number }) =>
      `p50 ${fmt(more.p50 - less.p50, 1)} ms, p99 ${fmt(more.p99 - less.p99, 1)} ms`;
    console.log(`added by level 3's bridge: ${added(latency.nested, latency.one)}`);
    console.log(`added by level 4's bridge and the device agent: ${added(latency.one, latency.direct)}`);
    console.log(`added by the two levels: ${added(latency.nested, latency.direct)}`);
    console.log(goalLine(`nested ≥ 0.7 × direct (ratio ${fmt(ratio, 2)})`, ratio >= 0.7));
    report('nested-telemetry', { nested, direct: baseline, ratio, latency });
    await Promise.all([subscriber.endAsync(), local.endAsync(), oneLevel.endAsync(), direct.endAsync()]);
  } finally {
    for (const agent of agents.reverse()) await agent.stop();
    for (const agent of agents) {
      killWorkloads(agent.dataDir);
      await removeDir(agent.dataDir);
    }
    await api.close();
    await hub.stop();
    await removeDir(hub.dataDir);
    await external.cleanup();
  }
}

/** An MQTT client on an agent's local endpoint, as a workload on that device has. */
async function localClient(agent: AgentProcess, clientId: string): Promise<MqttClient> {
  const { port } = JSON.parse(readFileSync(join(agent.dataDir, 'mqtt.json'), 'utf8')) as { port: number };
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId });
}

/** Resolves with each message's latency (arrival − its `sent`) once `count` have arrived. */
function arrivals(subscriber: MqttClient, count: number): Promise<number[]> {
  return new Promise((resolve) => {
    const latencies: number[] = [];
    const onMessage = (_topic: string, payload: Buffer) => {
      latencies.push(Date.now() - (JSON.parse(payload.toString()) as { sent: number }).sent);
      if (latencies.length === count) {
        subscriber.off('message', onMessage);
        resolve(latencies);
      }
    };
    subscriber.on('message', onMessage);
  });
}

await main();
